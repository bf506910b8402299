use meshlock_host::wasm_host::*;
use std::path::PathBuf;

#[test]
fn smoke() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = root.join("target/wasm32-wasip1/release-wasm/meshlock_filter.wasm");
    let policies = std::fs::read_to_string("/tmp/pol.yaml").unwrap();
    let cfg = serde_json::json!({"direction":"inbound","workload":{"namespace":"foo","name":"httpbin"},"policies":policies,"log":"decisions"});
    let t = std::time::Instant::now();
    let m = FilterModule::from_file(&wasm).unwrap();
    eprintln!("compile {:?}", t.elapsed());
    let mut vm = m
        .start(PluginSettings::new(cfg.to_string(), "meshlock"))
        .unwrap();
    eprintln!(
        "start {:?} configured {}",
        vm.startup_time(),
        vm.configured()
    );
    let mut p = Properties::new();
    p.set_int("destination.port", 80)
        .set_bool("connection.mtls", false);
    let id = vm.create_stream(p).unwrap();
    let a = vm
        .on_request_headers(id, vec![(":path".into(), b"/".to_vec())], true)
        .unwrap();
    let st = vm.finish_stream(id, false).unwrap();
    eprintln!(
        "{a:?} {:?} {:?} {:?}",
        st.local_response,
        vm.logs(),
        vm.metrics()
    );
}
