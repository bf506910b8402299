//! BENCHMARKS.md "Through both sidecars": calls from an app through its client-side sidecar
//! (the filter outbound, Istio mTLS origination) and the server's sidecar (rustls termination,
//! the filter inbound) to the app, against bare rustls over the same loopback with the same
//! certificates (the same client configuration and the same `ServerConfig`), in the same run.
//!
//! Every call is a new connection, so each one is a full mTLS handshake: calls/s through the
//! sidecars is also their handshakes/s. The baseline runs a handshake alone and a handshake plus
//! one request/response. Bounded: `ROUNDS` calls per figure (`MESHLOCK_BENCH_ROUNDS` overrides).
//! Run with `cargo bench -p meshlock-testbed --bench sidecars` (needs `scripts/build-filter.sh`).

#![forbid(unsafe_code)]
#![expect(clippy::expect_used, reason = "bench setup: a failure aborts the bench")]

use meshlock_core::compile::plugin::{Direction, LogSetting, PluginConfig};
use meshlock_core::{Analysis, Options, Source};
use meshlock_proxy_host::{FilterModule, FilterVm, PluginSettings};
use meshlock_testbed::ca::{LeafSpec, TestCa};
use meshlock_testbed::datapath::{FilterKind, Listener, ServerTls};
use meshlock_testbed::outbound::{ClientTls, OutboundProxy, Route, UpstreamTls, client_config};
use meshlock_testbed::tcp::Proxy;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 2_000;
const CLIENT: &str = "bar/sleep";
const SERVER: &str = "bar/httpbin";
const HOST: &str = "httpbin.bar.svc.cluster.local";

fn analysis() -> Analysis {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/authn");
    let sources: Vec<Source> = ["namespaces.yaml", "policies.yaml", "workloads.yaml"]
        .iter()
        .map(|f| Source::new(*f, std::fs::read_to_string(dir.join(f)).expect("example")))
        .collect();
    Analysis::new(&sources, &Options::default())
}

fn vm(module: &FilterModule, a: &Analysis, workload: &str, direction: Direction) -> FilterVm {
    let compiled = a.compile(workload).expect("compiles");
    let config = PluginConfig::compiled(&compiled, direction, FilterKind::Http, LogSetting::Off);
    let vm = module
        .start(PluginSettings::new(serde_json::to_vec(&config).expect("json"), &FilterKind::Http.root_id()))
        .expect("vm");
    assert!(vm.configured(), "the filter accepts the configuration");
    vm
}

/// A plaintext HTTP/1.1 app on 127.0.0.1 answering every request with 200.
fn app() -> SocketAddr {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
                }
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n");
        }
    });
    addr
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nhost: httpbin.bar.svc.cluster.local:8000\r\nconnection: close\r\n\r\n";

fn call(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(REQUEST).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(out.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&out));
}

fn rate(rounds: usize, f: impl Fn()) -> (f64, Duration) {
    f();
    let t = Instant::now();
    for _ in 0..rounds {
        f();
    }
    let elapsed = t.elapsed();
    let per = elapsed / u32::try_from(rounds).unwrap_or(u32::MAX);
    (rounds as f64 / elapsed.as_secs_f64(), per)
}

fn main() {
    let rounds = std::env::var("MESHLOCK_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(ROUNDS);
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target").join(meshlock_testbed::FILTER_WASIP1);
    let wasm = meshlock_testbed::locate_filter(wasm.is_file().then_some(wasm.as_path()))
        .expect("run scripts/build-filter.sh first");
    let module = FilterModule::from_file(&wasm).expect("module");
    let a = analysis();
    let ca = TestCa::generate("cluster.local").expect("ca");
    let identity = |w: &str| a.workload(w).expect("workload").1.identity.clone();
    let server_leaf = ca.issue(&LeafSpec::spiffe(&identity(SERVER))).expect("leaf");
    let client_leaf = ca.issue(&LeafSpec::spiffe(&identity(CLIENT))).expect("leaf");
    let roots = vec![ca.root_der().to_vec()];
    let server = ServerTls { chain: server_leaf.chain_der(), key: server_leaf.key_der, roots: roots.clone() };
    let client = ClientTls { chain: client_leaf.chain_der(), key: client_leaf.key_der, roots };
    let listener = Listener::new(&server, FilterKind::Http).expect("listener");
    let server_config = listener.tls_config();
    let client_tls = client_config(&client).expect("client config");
    let sni = format!("outbound_.8000_._.{HOST}");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let app_addr = app();
    let client_sidecar = runtime.block_on(async {
        let inbound = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let inbound_addr = inbound.local_addr().expect("addr");
        let proxy =
            Proxy::new(listener, vm(&module, &a, SERVER, Direction::Inbound), app_addr).with_original_port(8000);
        tokio::spawn(proxy.serve(inbound));
        let routes = vec![Route {
            host: HOST.to_owned(),
            port: 8000,
            endpoint: SERVER.to_owned(),
            address: inbound_addr,
            tls: UpstreamTls::IstioMutual { sni: sni.clone() },
        }];
        let outbound = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let outbound_addr = outbound.local_addr().expect("addr");
        let proxy = OutboundProxy::new(vm(&module, &a, CLIENT, Direction::Outbound), routes, &client).expect("proxy");
        tokio::spawn(proxy.serve(outbound));
        outbound_addr
    });

    // Bare rustls: the same client configuration against the same ServerConfig, over loopback.
    let bare = TcpListener::bind("127.0.0.1:0").expect("bind");
    let bare_addr = bare.local_addr().expect("addr");
    let config = Arc::clone(&server_config);
    std::thread::spawn(move || {
        for stream in bare.incoming() {
            let Ok(tcp) = stream else { return };
            let Ok(conn) = ServerConnection::new(Arc::clone(&config)) else { return };
            let mut tls = StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 4096];
            // A handshake-only client closes after the handshake: the read ends then.
            if let Ok(n) = tls.read(&mut buf)
                && n > 0
            {
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n");
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    let bare_tls = |request: bool| {
        let name = ServerName::try_from(sni.clone()).expect("sni");
        let conn = ClientConnection::new(Arc::clone(&client_tls), name).expect("client");
        let mut tls = StreamOwned::new(conn, TcpStream::connect(bare_addr).expect("connect"));
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("handshake");
        }
        if request {
            tls.write_all(REQUEST).expect("write");
            let mut out = Vec::new();
            let _ = tls.read_to_end(&mut out);
            assert!(out.starts_with(b"HTTP/1.1 200"));
        }
    };

    let (hs, hs_per) = rate(rounds, || bare_tls(false));
    let (bare_calls, bare_per) = rate(rounds, || bare_tls(true));
    let (calls, calls_per) = rate(rounds, || call(client_sidecar));
    let table = format!(
        "{rounds} rounds per row, one call at a time over 127.0.0.1, every call a new connection (a full mTLS \
         handshake between the sidecars). Command: `cargo bench -p meshlock-testbed --bench sidecars`.\n\n\
         | | calls/s | handshakes/s | time per call |\n\
         |---|---|---|---|\n\
         | bare rustls, handshake only | | {hs:.0} | {} µs |\n\
         | bare rustls, handshake + request | {bare_calls:.0} | {bare_calls:.0} | {} µs |\n\
         | app → client sidecar → server sidecar → app | {calls:.0} | {calls:.0} | {} µs |\n",
        hs_per.as_micros(),
        bare_per.as_micros(),
        calls_per.as_micros()
    );
    print!("{table}");
    let out = std::env::var_os("MESHLOCK_BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench"));
    std::fs::create_dir_all(&out).expect("bench output directory");
    std::fs::write(out.join("sidecars.md"), table).expect("write sidecars.md");
    runtime.shutdown_timeout(Duration::from_secs(2));
}
