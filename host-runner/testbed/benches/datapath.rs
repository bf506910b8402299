//! BENCHMARKS.md "Decision cost", "Data path" and "Start": each figure beside its baseline,
//! measured in the same run.
//!
//! * decision: one filter decision (a connection, an HTTP request) in wasmtime against the same
//!   decision called natively (`meshlock_filter::config::Guard`, the code the .wasm runs);
//! * handshake: a full mTLS handshake and one request through the host's in-memory data path
//!   with the filter, against bare rustls with the same server configuration (the very same
//!   `Arc<ServerConfig>`: certificates and client verifier) and the same client configuration;
//! * start: a VM start (instantiate + `on_configure`) with the suite workload's compiled policy
//!   and with the compiled policy of one workload of the 10,000- and 50,000-service meshes
//!   (it must not grow with the mesh).
//!
//! Needs the filter built (`scripts/build-filter.sh`). Run with `cargo bench -p meshlock-testbed
//! --bench datapath`; `scripts/bench.sh` reads criterion's estimates from target/criterion.

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, reason = "bench setup: a failure aborts the bench")]

use criterion::{Criterion, criterion_group, criterion_main};
use meshlock_core::enforce::PeerFacts;
use meshlock_filter::config::Guard;
use meshlock_proxy_host::{FilterModule, FilterVm, PluginSettings, Properties};
use meshlock_testbed::ca::{LeafSpec, TestCa};
use meshlock_testbed::datapath::memory::{Client, ClientIdentity, ClientSetup, client_config, exchange};
use meshlock_testbed::datapath::{ConnMeta, FilterKind, Listener, ServerTls};
use meshlock_testbed::envoy::plugin_configuration;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};
use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

fn policies() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/suites/policies");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("suite policies");
    format!("{}\n---\n{}", read("workloads.yaml"), read("strict.yaml"))
}

/// The plugin configuration the shipped filter reads: foo/httpbin's compiled inbound policy.
fn config(kind: &str, policies: &str) -> String {
    let kind = if kind.ends_with("network") { FilterKind::Network } else { FilterKind::Http };
    let mut cfg: serde_json::Value =
        serde_json::from_str(&plugin_configuration("foo/httpbin", policies, None, kind).expect("compiles"))
            .expect("json");
    if let Some(o) = cfg.as_object_mut() {
        o.insert("log".to_owned(), serde_json::json!("off"));
    }
    cfg.to_string()
}

/// The compiled inbound configuration of one workload (ns0/svc0) of the synthetic mesh of
/// `services` services: what its proxy's VM is started with, whatever the mesh's size.
fn mesh_workload_config(services: usize) -> String {
    let mesh = meshlock_core::synth::generate(&meshlock_core::synth::MeshShape::new(services));
    let cfg = plugin_configuration("ns0/svc0", &mesh, None, FilterKind::Http).expect("compiles");
    eprintln!("start: ns0/svc0 of the {services}-service mesh: {} bytes of plugin configuration", cfg.len());
    cfg
}

fn module() -> FilterModule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target").join(meshlock_testbed::FILTER_WASIP1);
    assert!(path.is_file(), "{} is missing: run scripts/build-filter.sh", path.display());
    FilterModule::from_file(&path).expect("compile the filter")
}

fn vm(module: &FilterModule, kind: &str, policies: &str) -> FilterVm {
    start_vm(module, &config(kind, policies))
}

fn start_vm(module: &FilterModule, config: &str) -> FilterVm {
    let vm = module.start(PluginSettings::new(config.to_owned(), "meshlock")).expect("start");
    assert!(vm.configured(), "the filter refused its configuration");
    vm
}

const SAN: &str = "spiffe://cluster.local/ns/bar/sa/sleep";

fn decision(c: &mut Criterion, module: &FilterModule) {
    let mut group = c.benchmark_group("decision");
    group.sample_size(50).measurement_time(Duration::from_secs(4));
    let peer = PeerFacts { tls: true, mtls: true, uri_san: Some(SAN) };
    for kind in ["network", "http"] {
        let guard = Guard::configure(config(kind, &policies()).as_bytes(), Some("meshlock")).expect("guard");
        group.bench_function(format!("native {kind}"), |b| {
            b.iter(|| black_box(guard.decide_inbound(black_box(Some(80)), black_box(&peer))));
        });
    }
    let mut props = Properties::new();
    props
        .set_int("destination.port", 80)
        .set_bool("connection.mtls", true)
        .set_str("connection.tls_version", "TLSv1.3")
        .set_str("connection.uri_san_peer_certificate", SAN);
    let mut net_vm = vm(module, "network", &policies());
    group.bench_function("wasm network", |b| {
        b.iter(|| {
            let id = net_vm.create_stream(props.clone()).expect("stream");
            net_vm.on_new_connection(id).expect("new connection");
            let a = net_vm.on_downstream_data(id, b"GET / HTTP/1.1\r\n", false).expect("call");
            net_vm.finish_stream(id, true).expect("finish");
            black_box(a)
        });
    });
    let mut http_vm = vm(module, "http", &policies());
    group.bench_function("wasm http", |b| {
        b.iter(|| {
            let id = http_vm.create_stream(props.clone()).expect("stream");
            let a = http_vm.on_request_headers(id, vec![(":path".to_owned(), b"/".to_vec())], true).expect("call");
            http_vm.finish_stream(id, false).expect("finish");
            black_box(a)
        });
    });
    group.finish();
}

/// Pumps TLS records between the two ends until neither has anything to send.
fn pump(client: &mut ClientConnection, server: &mut ServerConnection) {
    let mut buf = Vec::with_capacity(8 * 1024);
    for _ in 0..16 {
        let mut moved = false;
        while client.wants_write() {
            buf.clear();
            client.write_tls(&mut buf).expect("client write_tls");
            server.read_tls(&mut buf.as_slice()).expect("server read_tls");
            server.process_new_packets().expect("server");
            moved = true;
        }
        while server.wants_write() {
            buf.clear();
            server.write_tls(&mut buf).expect("server write_tls");
            client.read_tls(&mut buf.as_slice()).expect("client read_tls");
            client.process_new_packets().expect("client");
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn handshake(c: &mut Criterion, module: &FilterModule) {
    let ca = TestCa::generate("cluster.local").expect("ca");
    let server = ca
        .issue(&LeafSpec {
            dns: vec!["localhost".to_owned()],
            ..LeafSpec::spiffe("spiffe://cluster.local/ns/foo/sa/httpbin")
        })
        .expect("server cert");
    let client = ca.issue(&LeafSpec::spiffe(SAN)).expect("client cert");
    let roots = vec![ca.root_der().to_vec()];
    let tls = ServerTls { chain: vec![server.cert_der], key: server.key_der, roots: roots.clone() };
    let setup = ClientSetup::http_get(roots.clone(), "localhost", "localhost:80");
    let identity = ClientIdentity { chain: vec![client.cert_der], key: client.key_der };
    let meta = ConnMeta {
        id: 1,
        source: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
        destination: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80),
    };
    let mut group = c.benchmark_group("handshake");
    group.sample_size(40).measurement_time(Duration::from_secs(6));

    let net = Listener::new(&tls, FilterKind::Network).expect("listener");
    let server_config = net.tls_config();
    let reply = meshlock_testbed::datapath::memory::upstream_reply(&setup.request);
    group.bench_function("bare rustls", |b| {
        b.iter(|| {
            let config = client_config(&roots, Some(&identity), rustls::DEFAULT_VERSIONS).expect("client config");
            let name = ServerName::try_from("localhost").expect("name");
            let mut cli = ClientConnection::new(config, name).expect("client");
            let mut srv = ServerConnection::new(server_config.clone()).expect("server");
            pump(&mut cli, &mut srv);
            cli.writer().write_all(&setup.request).expect("request");
            pump(&mut cli, &mut srv);
            let mut got = vec![0u8; setup.request.len()];
            srv.reader().read_exact(&mut got).expect("server reads the request");
            srv.writer().write_all(&reply).expect("reply");
            pump(&mut cli, &mut srv);
            let mut answer = vec![0u8; reply.len()];
            cli.reader().read_exact(&mut answer).expect("client reads the reply");
            black_box(answer)
        });
    });
    let mut net_vm = vm(module, "network", &policies());
    let mtls = Client::Tls(Some(identity.clone()));
    group.bench_function("host data path with the filter", |b| {
        b.iter(|| {
            let ex = exchange(&net, &mut net_vm, &meta, black_box(&mtls), &setup).expect("exchange");
            assert!(!ex.upstream_received.is_empty(), "admitted");
        });
    });
    group.finish();
}

fn start(c: &mut Criterion, module: &FilterModule) {
    let mut group = c.benchmark_group("start");
    group.sample_size(20).measurement_time(Duration::from_secs(4));
    let suite = config("http", &policies());
    group.bench_function("suite policies", |b| b.iter(|| black_box(start_vm(module, &suite))));
    for services in [10_000, 50_000] {
        let cfg = mesh_workload_config(services);
        group.bench_function(format!("compiled, {services}-service mesh"), |b| {
            b.iter(|| black_box(start_vm(module, &cfg)));
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let module = module();
    decision(c, &module);
    handshake(c, &module);
    start(c, &module);
}

criterion_group!(datapath, benches);
criterion_main!(datapath);
