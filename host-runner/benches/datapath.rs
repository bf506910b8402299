//! The in-memory data path: a full mTLS handshake through the filter, a plaintext request
//! refused by the HTTP filter, the filter call alone, and a VM start (which runs the core over
//! the policies in `on_configure`). Needs the filter built: `scripts/build-filter.sh`.
//! Run with `cargo bench -p meshlock-host`.

#![expect(clippy::expect_used, reason = "bench setup: a failure aborts the bench")]

use criterion::{Criterion, criterion_group, criterion_main};
use meshlock_host::ca::{LeafSpec, TestCa};
use meshlock_host::datapath::memory::{Client, ClientIdentity, ClientSetup, exchange};
use meshlock_host::datapath::{ConnMeta, FilterKind, Listener, ServerTls};
use meshlock_host::wasm_host::{FilterModule, FilterVm, PluginSettings, Properties};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

fn policies() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/suites/policies");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("suite policies");
    format!("{}\n---\n{}", read("workloads.yaml"), read("strict.yaml"))
}

fn config(kind: &str) -> String {
    serde_json::json!({
        "direction": "inbound",
        "workload": {"namespace": "foo", "name": "httpbin"},
        "policies": policies(),
        "kind": kind,
    })
    .to_string()
}

fn module() -> FilterModule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target").join(meshlock_host::FILTER_WASIP1);
    assert!(path.is_file(), "{} is missing: run scripts/build-filter.sh", path.display());
    FilterModule::from_file(&path).expect("compile the filter")
}

fn vm(module: &FilterModule, kind: &str) -> FilterVm {
    let vm = module.start(PluginSettings::new(config(kind), "meshlock")).expect("start");
    assert!(vm.configured());
    vm
}

fn benches(c: &mut Criterion) {
    let module = module();
    let ca = TestCa::generate("cluster.local").expect("ca");
    let server = ca
        .issue(&LeafSpec {
            dns: vec!["localhost".to_owned()],
            ..LeafSpec::spiffe("spiffe://cluster.local/ns/foo/sa/httpbin")
        })
        .expect("server cert");
    let client = ca.issue(&LeafSpec::spiffe("spiffe://cluster.local/ns/bar/sa/sleep")).expect("client cert");
    let tls = ServerTls { chain: vec![server.cert_der], key: server.key_der, roots: vec![ca.root_der().to_vec()] };
    let setup = ClientSetup::http_get(vec![ca.root_der().to_vec()], "localhost", "localhost:80");
    let meta = ConnMeta {
        id: 1,
        source: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
        destination: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80),
    };

    let mut group = c.benchmark_group("datapath");
    group.sample_size(30).measurement_time(Duration::from_secs(5));

    let net = Listener::new(&tls, FilterKind::Network).expect("listener");
    let mut net_vm = vm(&module, "network");
    let mtls = Client::Tls(Some(ClientIdentity { chain: vec![client.cert_der], key: client.key_der }));
    group.bench_function("mtls handshake + network filter (allow)", |b| {
        b.iter(|| {
            let ex = exchange(&net, &mut net_vm, &meta, black_box(&mtls), &setup).expect("exchange");
            assert!(!ex.upstream_received.is_empty());
        });
    });

    let http = Listener::new(&tls, FilterKind::Http).expect("listener");
    let mut http_vm = vm(&module, "http");
    let plain = Client::Raw(setup.request.clone());
    group.bench_function("plaintext + http filter (403)", |b| {
        b.iter(|| {
            let ex = exchange(&http, &mut http_vm, &meta, black_box(&plain), &setup).expect("exchange");
            assert_eq!(ex.response_status(), Some(403));
        });
    });

    let mut props = Properties::new();
    props
        .set_int("destination.port", 80)
        .set_bool("connection.mtls", true)
        .set_str("connection.tls_version", "TLSv1.3")
        .set_str("connection.uri_san_peer_certificate", "spiffe://cluster.local/ns/bar/sa/sleep");
    group.bench_function("filter only: on_request_headers (allow)", |b| {
        b.iter(|| {
            let id = http_vm.create_stream(props.clone()).expect("stream");
            let a = http_vm.on_request_headers(id, vec![(":path".to_owned(), b"/".to_vec())], true).expect("call");
            http_vm.finish_stream(id, false).expect("finish");
            black_box(a)
        });
    });

    group.bench_function("vm start (instantiate + on_configure: the core over the policies)", |b| {
        b.iter(|| black_box(vm(&module, "http")));
    });
    group.finish();
}

criterion_group!(datapath, benches);
criterion_main!(datapath);
