//! Load: `meshlock host` and real Envoy with the filter under 64 concurrent clients. Every run
//! is bounded by a request count and a wall-clock limit; the servers are child processes on
//! 127.0.0.1, killed by PID on drop. Memory and file descriptors are asserted, never time.

use crate::host_tcp::start_host;
use crate::support::{CountingUpstream, scratch, strict_policies, wasm_path};
use meshlock_testbed::ca::{LeafSpec, TestCa};
use meshlock_testbed::datapath::FilterKind;
use meshlock_testbed::datapath::memory::{ClientIdentity, client_config};
use meshlock_testbed::envoy::process::{EnvoyProcess, free_port, locate_envoy};
use meshlock_testbed::envoy::{BootstrapSpec, CertFiles, InboundListener, bootstrap_yaml, plugin_configuration};
use meshlock_testbed::load::{ConnectionMode, LoadReport, LoadSpec, run, run_blocking};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const CLIENTS: usize = 64;
const CLIENT_ID: &str = "spiffe://cluster.local/ns/bar/sa/sleep";
/// A wall-clock bound on each phase, far above what it needs: it stops a hung run, it is not a
/// performance threshold (the full request count is asserted).
const PHASE_LIMIT: Duration = Duration::from_secs(600);

/// VmRSS of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Waits (bounded: 100 polls, 100 ms apart) until the process holds at most `baseline` fds;
/// the last count.
fn fds_settle(pid: u32, baseline: usize) -> usize {
    let mut n = open_fds(pid);
    for _ in 0..100 {
        if n <= baseline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        n = open_fds(pid);
    }
    n
}

fn identity(ca: &TestCa, uri: &str) -> ClientIdentity {
    let leaf = ca.issue(&LeafSpec::spiffe(uri)).unwrap();
    ClientIdentity { chain: vec![leaf.cert_der], key: leaf.key_der }
}

/// `clients` connections to `target`, `requests` in all, over mTLS with `id` (or plain TLS with
/// no certificate, or plaintext with `tls` false).
fn spec(
    target: SocketAddr,
    ca: &TestCa,
    tls: bool,
    id: Option<&ClientIdentity>,
    mode: ConnectionMode,
    requests: u64,
) -> LoadSpec {
    let mut s = LoadSpec::new(target, CLIENTS, requests, PHASE_LIMIT);
    if tls {
        s.tls = Some(client_config(&[ca.root_der().to_vec()], id, rustls::DEFAULT_VERSIONS).unwrap());
    }
    s.mode = mode;
    s.io_timeout = Duration::from_secs(30);
    s
}

/// Asserts that every request of a run was answered with `status`.
fn all_answered(name: &str, r: &LoadReport, requests: u64, status: u16) {
    println!("{name}: {}", r.summary());
    assert_eq!(r.errors, BTreeMap::new(), "{name}: unexpected errors: {}", r.summary());
    assert_eq!(r.statuses, BTreeMap::from([(status, requests)]), "{name}: {}", r.summary());
}

#[test]
fn the_host_under_64_clients_answers_all_keeps_memory_flat_and_releases_fds() {
    let dir = scratch("load-host");
    let ca = TestCa::generate("cluster.local").unwrap();
    ca.save(&dir).unwrap();
    let up = CountingUpstream::start();
    let (host, port) = start_host(&dir, "http", up.addr);
    let pid = host.0.id();
    let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let client = identity(&ca, CLIENT_ID);
    let fds_idle = open_fds(pid);
    let rss_idle = rss_kib(pid);

    // Warm-up: the allocator and the runtime reach their working size.
    let warm = run_blocking(&spec(target, &ca, true, Some(&client), ConnectionMode::KeepAlive, 640)).unwrap();
    all_answered("warm-up (mTLS keep-alive)", &warm, 640, 200);
    let rss_warm = rss_kib(pid);

    let keep_alive = run_blocking(&spec(target, &ca, true, Some(&client), ConnectionMode::KeepAlive, 6400)).unwrap();
    all_answered("mTLS keep-alive", &keep_alive, 6400, 200);
    let fresh = run_blocking(&spec(target, &ca, true, Some(&client), ConnectionMode::PerRequest, 640)).unwrap();
    all_answered("mTLS, a new connection per request", &fresh, 640, 200);
    // Refused: plaintext, and TLS without a client certificate (STRICT), each a 403 local reply.
    let plain = run_blocking(&spec(target, &ca, false, None, ConnectionMode::PerRequest, 640)).unwrap();
    all_answered("plaintext (refused)", &plain, 640, 403);
    let no_cert = run_blocking(&spec(target, &ca, true, None, ConnectionMode::PerRequest, 320)).unwrap();
    all_answered("TLS without a client certificate (refused)", &no_cert, 320, 403);

    let rss_end = rss_kib(pid);
    let fds_end = fds_settle(pid, fds_idle);
    let admitted = [&warm, &keep_alive, &fresh].iter().map(|r| r.statuses[&200]).sum::<u64>();
    let mtls_connections = [&warm, &keep_alive, &fresh].iter().map(|r| r.connections).sum::<u64>();
    println!(
        "meshlock host under {CLIENTS} clients: {} requests, {admitted} admitted, upstream received {}; \
         RSS idle {rss_idle} KiB, after warm-up {rss_warm} KiB, end {rss_end} KiB; fds idle {fds_idle}, end {fds_end}",
        [&warm, &keep_alive, &fresh, &plain, &no_cert].iter().map(|r| r.attempted()).sum::<u64>(),
        up.requests()
    );
    // The upstream saw exactly the admitted requests: nothing refused leaked through.
    assert_eq!(up.requests(), admitted);
    // Memory, not time: a leak of 2 KiB per request of the 8000 after the warm-up would exceed
    // this margin (16 MiB over the warmed-up size).
    assert!(rss_end <= rss_warm + 16 * 1024, "RSS grew from {rss_warm} KiB to {rss_end} KiB");
    assert_eq!(fds_end, fds_idle, "file descriptors not released");
    // One decision per connection (the host checks the first request of each).
    let log = std::fs::read_to_string(dir.join("host-http.log")).unwrap();
    let allows = log.matches("meshlock: request: allow").count() as u64;
    let denies = log.matches("meshlock: request: deny").count() as u64;
    assert_eq!(allows, mtls_connections, "allow decisions logged");
    assert_eq!(denies, plain.connections + no_cert.connections, "deny decisions logged");
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn envoy_with_the_filter_under_64_clients_counts_every_request() {
    let seconds: u64 = std::env::var("MESHLOCK_LOAD_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let envoy = locate_envoy(Some(&crate::support::root())).map_err(|e| e.to_string()).unwrap();
    let wasm = std::fs::canonicalize(wasm_path(meshlock_testbed::FILTER_WASIP1)).unwrap();
    let dir = scratch("load-envoy");
    let ca = TestCa::generate("cluster.local").unwrap();
    ca.save(&dir).unwrap();
    let server = ca
        .issue(&LeafSpec {
            dns: vec!["localhost".to_owned()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ..LeafSpec::spiffe("spiffe://cluster.local/ns/foo/sa/httpbin")
        })
        .unwrap();
    let certs = CertFiles::in_dir(&dir);
    std::fs::write(&certs.cert, &server.cert_pem).unwrap();
    std::fs::write(&certs.key, &server.key_pem).unwrap();
    let up = CountingUpstream::start();
    let listener = free_port().unwrap();
    let admin = free_port().unwrap();
    // The `meshlock envoy-config` plugin configuration, per-decision log lines off: a minute of
    // load would write hundreds of thousands; the counters are the evidence here.
    let mut config: serde_json::Value =
        serde_json::from_str(&plugin_configuration("foo/httpbin", &strict_policies(), None, FilterKind::Http).unwrap())
            .unwrap();
    config["log"] = "off".into();
    let spec_envoy = BootstrapSpec {
        filter: wasm,
        plugin_config: BTreeMap::from([("http", config.to_string())]),
        listeners: vec![InboundListener { kind: FilterKind::Http, address: listener }],
        upstream: up.addr,
        admin,
        certs,
        proxy_protocol: true,
        outbound: None,
    };
    let path = dir.join("envoy.yaml");
    std::fs::write(&path, bootstrap_yaml(&spec_envoy).unwrap()).unwrap();
    let proxy = EnvoyProcess::start(&envoy, &path, admin, &dir.join("envoy.log"), Duration::from_secs(60)).unwrap();
    let rss_start = rss_kib(proxy.pid());

    // 56 mTLS keep-alive clients and 8 plaintext ones (refused with 403), for `seconds`.
    let destination = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80));
    let limit = Duration::from_secs(seconds);
    let client = identity(&ca, CLIENT_ID);
    let mut mtls = spec(listener, &ca, true, Some(&client), ConnectionMode::KeepAlive, 50_000_000);
    (mtls.connections, mtls.max_duration, mtls.proxy_destination) = (CLIENTS - 8, limit, destination);
    mtls.authority = "localhost:80".to_owned();
    let mut plain = spec(listener, &ca, false, None, ConnectionMode::KeepAlive, 50_000_000);
    (plain.connections, plain.max_duration, plain.proxy_destination) = (8, limit, destination);
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (m, p) = runtime.block_on(async { tokio::join!(run(&mtls), run(&plain)) });
    let elapsed = started.elapsed();
    let rss_end = rss_kib(proxy.pid());

    println!("mTLS: {}", m.summary());
    println!("plaintext: {}", p.summary());
    let decisions = proxy.counters("meshlock.decisions").unwrap();
    // How Envoy's upstream side fared (connections opened, destroyed, resets, timeouts).
    let upstream_side = proxy.counters("cluster.upstream.upstream_").unwrap();
    println!(
        "Envoy upstream counters (non-zero): {:?}",
        upstream_side.iter().filter(|(_, v)| **v > 0).collect::<Vec<_>>()
    );
    let sum = |verdict: &str| -> u64 {
        decisions.iter().filter(|(k, _)| k.contains(&format!("meshlock.decisions.{verdict}."))).map(|(_, v)| v).sum()
    };
    println!(
        "Envoy under {CLIENTS} clients for {:.1} s: {} requests, upstream received {}; decision counters {decisions:?}; \
         Envoy RSS start {rss_start} KiB, end {rss_end} KiB",
        elapsed.as_secs_f64(),
        m.attempted() + p.attempted(),
        up.requests()
    );
    assert_eq!(m.errors, BTreeMap::new(), "mTLS: {}", m.summary());
    assert_eq!(p.errors, BTreeMap::new(), "plaintext: {}", p.summary());
    assert_eq!(m.statuses.keys().collect::<Vec<_>>(), vec![&200], "mTLS: {}", m.summary());
    assert_eq!(p.statuses.keys().collect::<Vec<_>>(), vec![&403], "plaintext: {}", p.summary());
    assert!(m.responses() > 0 && p.responses() > 0);
    // One decision per request, each counted: allows are the 200s, denials the 403s.
    assert_eq!(sum("allow"), m.responses(), "{decisions:?}");
    assert_eq!(sum("deny"), p.responses(), "{decisions:?}");
    assert_eq!(up.requests(), m.responses());
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}
