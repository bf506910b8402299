//! The hostile-client rows a suite cannot express, against both targets on a STRICT
//! port: `meshlock host` (a child process, network filter) and real Envoy 1.40 (a child process,
//! network and HTTP listeners, no PROXY protocol), each in front of a counting upstream.
//!
//! - a real mTLS client's flight cut at every TLS record boundary, and mid-record;
//! - garbage of several shapes;
//! - slowloris: one byte a second, bounded;
//! - renegotiation: `openssl s_client -tls1_2` asked to renegotiate (`R`).
//!
//! None is admitted (the upstream receives nothing); each refusal shows its reason (the host's
//! log line, Envoy's counters); afterwards the host's open fds are back at the baseline, Envoy is
//! still `/ready` and the upstream saw exactly the control requests.

use crate::host_tcp::start_host;
use crate::support::{CountingUpstream, root, scratch, wasm_path};
use meshlock_testbed::ca::{LeafSpec, TestCa};
use meshlock_testbed::datapath::FilterKind;
use meshlock_testbed::datapath::memory::{ClientIdentity, client_config};
use meshlock_testbed::envoy::process::{EnvoyProcess, admin_get, locate_envoy};
use meshlock_testbed::envoy::runner::{READY_TIMEOUT, prepare};
use meshlock_testbed::envoy::{BootstrapSpec, CertFiles, InboundListener, bootstrap_yaml};
use meshlock_testbed::suite::{Runner, load_suite};
use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESH_ID: &str = "spiffe://cluster.local/ns/bar/sa/sleep";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One target: where to connect, the CA its mesh trusts, and how to read its refusals.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    ca: TestCa,
    evidence: Box<dyn Fn() -> BTreeMap<String, u64>>,
}

/// The host's refusal evidence: its log lines, counted by kind. Only whole lines count: the host
/// writes a line in several pieces, and one read here once caught `TLS handshake failed: ` before
/// its reason.
fn host_evidence(log: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.split_inclusive('\n').filter_map(|l| l.strip_suffix('\n')) {
        let kind = if let Some(rest) = line.split_once("meshlock: connection: ").map(|(_, r)| r) {
            rest.to_owned()
        } else if let Some((_, rest)) = line.split_once("TLS handshake failed: ") {
            format!("handshake: {}", rest.split(':').next().unwrap_or(rest))
        } else if line.contains("not admitted within") {
            "timeout: not admitted".to_owned()
        } else {
            continue;
        };
        *out.entry(kind).or_insert(0) += 1;
    }
    out
}

/// Envoy's counters (and the one gauge) that say what happened to a connection: the filter's
/// decisions, the TLS inspector's verdict, TLS handshakes and errors, a close or timeout inside
/// the listener filters, a connection ended. Listener names are dropped (one listener is used).
const ENVOY_EVIDENCE: &[&str] = &[
    "tls_inspector.tls_found",
    "tls_inspector.tls_not_found",
    "ssl.handshake",
    "ssl.connection_error",
    "downstream_listener_filter_remote_close",
    "downstream_pre_cx_timeout",
    "downstream_pre_cx_active",
    "downstream_cx_destroy",
];

fn envoy_evidence(envoy: &EnvoyProcess) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, v) in envoy.counters("").unwrap() {
        let key = if let Some((_, decision)) = k.split_once("meshlock.decisions.") {
            decision.to_owned()
        } else if let Some(rest) = k.strip_prefix("listener.127.0.0.1_").and_then(|r| r.split_once('.')) {
            rest.1.to_owned()
        } else {
            k
        };
        if v > 0 && (ENVOY_EVIDENCE.contains(&key.as_str()) || key.starts_with("allow.") || key.starts_with("deny.")) {
            *out.entry(key).or_insert(0) += v;
        }
    }
    out
}

/// What moved between two evidence snapshots.
fn moved(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// Whether the evidence shows the connection's end: any host log line (written at the close);
/// for Envoy a close, a destroyed connection or one held in the listener filters.
fn ended(t: &Target, m: &BTreeMap<String, u64>) -> bool {
    !m.is_empty()
        && (t.name != "envoy" || m.keys().any(|k| k.contains("close") || k.contains("destroy") || k.contains("pre_cx")))
}

/// Waits (bounded) until the evidence shows the connection's end, and returns what moved.
fn await_evidence(t: &Target, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let started = Instant::now();
    loop {
        let m = moved(before, &(t.evidence)());
        if ended(t, &m) || started.elapsed() > IO_TIMEOUT {
            return m;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads until EOF, reset or the read timeout: what the server sent back.
fn drain(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..1024 {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    got
}

fn mesh_identity(ca: &TestCa) -> ClientIdentity {
    let leaf = ca.issue(&LeafSpec::spiffe(MESH_ID)).unwrap();
    ClientIdentity { chain: leaf.chain_der(), key: leaf.key_der }
}

/// The length of the first whole TLS record in `buf`, if there is one.
fn record_len(buf: &[u8]) -> Option<usize> {
    let len = 5 + usize::from(u16::from_be_bytes([*buf.get(3)?, *buf.get(4)?]));
    (buf.len() >= len).then_some(len)
}

/// How a cut client ended.
#[derive(Debug)]
struct CutRun {
    /// Records the client had completed its handshake with (before its request).
    handshake_records: Option<usize>,
    /// Records forwarded before the cut.
    forwarded: usize,
    /// Plaintext the client read (an HTTP response would mean it was admitted).
    response: Vec<u8>,
}

/// A mesh client's real handshake and request through `addr`, forwarding only its first
/// `records` TLS records and then `extra` bytes of the next, then closing. `records: usize::MAX`
/// runs it whole.
fn cut_client(addr: SocketAddr, ca: &TestCa, identity: &ClientIdentity, records: usize, extra: usize) -> CutRun {
    let config = client_config(&[ca.root_der().to_vec()], Some(identity), rustls::DEFAULT_VERSIONS).unwrap();
    let mut c = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut s = connect(addr);
    let mut out = Vec::new();
    let mut run = CutRun { handshake_records: None, forwarded: 0, response: Vec::new() };
    let mut produced = 0;
    let mut chunk = [0u8; 16 * 1024];
    // Bounded: a handshake and a request take a handful of round trips.
    for _ in 0..64 {
        while c.wants_write() {
            c.write_tls(&mut out).unwrap();
        }
        while let Some(len) = record_len(&out) {
            if run.forwarded == records {
                let _ = s.write_all(&out[..extra.min(len)]);
                let _ = s.shutdown(Shutdown::Write);
                let _ = drain(&mut s);
                return run;
            }
            if s.write_all(&out[..len]).is_err() {
                // The server refused the flight and went away.
                return run;
            }
            out.drain(..len);
            run.forwarded += 1;
        }
        produced = produced.max(run.forwarded);
        if !c.is_handshaking() && run.handshake_records.is_none() {
            run.handshake_records = Some(produced);
            c.writer().write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
            continue;
        }
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut input = &chunk[..n];
        while !input.is_empty() {
            if c.read_tls(&mut input).is_err() || c.process_new_packets().is_err() {
                return run;
            }
        }
        let mut plain = Vec::new();
        let _ = c.reader().read_to_end(&mut plain);
        run.response.extend_from_slice(&plain);
        if run.response.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    run
}

/// The flight cut at every record boundary and mid-record: never admitted, each with a reason.
fn cuts(t: &Target, up: &CountingUpstream, report: &mut Vec<String>) -> usize {
    let identity = mesh_identity(&t.ca);
    // The control: the whole flight is admitted (so the cuts below are what refuses).
    let requests = up.counts().2;
    let whole = cut_client(t.addr, &t.ca, &identity, usize::MAX, 0);
    assert!(whole.response.starts_with(b"HTTP/1.1 200"), "{}: the uncut client: {whole:?}", t.name);
    assert_eq!(up.counts().2, requests + 1, "{}: the uncut client's request reached the upstream", t.name);
    let handshake = whole.handshake_records.unwrap();
    assert!(handshake >= 2, "{}: {handshake} client handshake records", t.name);
    let mut plan: Vec<(usize, usize)> = (0..=handshake).map(|k| (k, 0)).collect();
    // Mid-record: a header only, half a ClientHello, half of the last handshake record.
    plan.extend([(0, 3), (0, 5), (0, 100), (handshake - 1, 20)]);
    let bytes_before = up.counts().1;
    for (records, extra) in &plan {
        let before = (t.evidence)();
        let run = cut_client(t.addr, &t.ca, &identity, *records, *extra);
        assert!(run.response.is_empty(), "{}: cut after {records} records + {extra} bytes was answered", t.name);
        let why = await_evidence(t, &before);
        // A cut inside the handshake must show a reason; a client that sent nothing, or a whole
        // handshake and then nothing, was refused nothing there is a reason to give for.
        if (*records > 0 && *records < handshake) || *extra > 0 {
            let what = format!("{}: cut after {records} records + {extra} bytes: {why:?}", t.name);
            assert!(!why.is_empty(), "{what}: no reason shown");
            // The handshake never completed and the filter admitted nothing.
            assert!(!why.keys().any(|k| k.starts_with("allow") || k == "ssl.handshake"), "{what}");
            assert!(ended(t, &why), "{what}: the connection's end not seen");
        }
        report.push(format!("{} cut {records}+{extra}: {why:?}", t.name));
    }
    assert_eq!(up.counts().1, bytes_before, "{}: a cut client's bytes reached the upstream", t.name);
    plan.len()
}

/// Bytes of several shapes that are not a usable client: none admitted, each with a reason.
fn garbage(t: &Target, up: &CountingUpstream, report: &mut Vec<String>) -> usize {
    let mut ramp = Vec::new();
    for i in 0..4096u32 {
        ramp.push(u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).unwrap());
    }
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("TLS header claiming 64 KiB, 10 bytes follow", [&b"\x16\x03\x01\xff\xff"[..], &[0x01; 10]].concat()),
        ("ClientHello with a bogus body", b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\xff\xff".to_vec()),
        ("application data before a handshake", [&b"\x17\x03\x03\x00\x10"[..], &[0xab; 16]].concat()),
        ("SSLv2-style hello", b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10".to_vec()),
        ("64 NUL bytes", vec![0; 64]),
        ("4 KiB of noise", ramp),
        ("an unfinished HTTP head", b"GET / HTTP/1.1\r\nHost: x\r\nX: \x01\x02\x03".to_vec()),
    ];
    let bytes_before = up.counts().1;
    for (name, bytes) in &shapes {
        let before = (t.evidence)();
        let mut s = connect(t.addr);
        let _ = s.write_all(bytes);
        let _ = s.shutdown(Shutdown::Write);
        let got = drain(&mut s);
        assert!(!got.starts_with(b"HTTP/1.1 200"), "{}: {name} was admitted", t.name);
        let why = await_evidence(t, &before);
        assert!(!why.is_empty(), "{}: {name}: no reason shown", t.name);
        assert!(!why.keys().any(|k| k.starts_with("allow")), "{}: {name}: {why:?}", t.name);
        report.push(format!("{} garbage {name}: {why:?}", t.name));
    }
    assert_eq!(up.counts().1, bytes_before, "{}: garbage reached the upstream", t.name);
    shapes.len()
}

/// A mesh client whose chain carries `fillers` extra ~4.5 KiB certificates: whether the
/// request got a 200, and the reason shown.
fn chain_of(t: &Target, fillers: usize) -> (bool, BTreeMap<String, u64>) {
    let leaf = t.ca.issue(&LeafSpec::spiffe(MESH_ID)).unwrap();
    let mut chain = vec![leaf.cert_der];
    chain.extend(meshlock_testbed::ca::fillers(fillers, meshlock_testbed::ca::FILLER_PADDING).unwrap());
    let identity = ClientIdentity { chain, key: leaf.key_der };
    let before = (t.evidence)();
    let run = cut_client(t.addr, &t.ca, &identity, usize::MAX, 0);
    (run.response.starts_with(b"HTTP/1.1 200"), await_evidence(t, &before))
}

/// Chains of 45, 76 and 99 KiB. Measured: 45 KiB passes both TLS stacks; 76 KiB the host refuses
/// (rustls: a handshake message is at most 64 KiB) and Envoy accepts (BoringSSL: a certificate
/// list up to 100 KiB); 99 KiB both refuse. "Accepted" is the filter counting `allow`: Envoy
/// then fails the connection (`ssl.connection_error`) before the client reads a response, which
/// is recorded, not asserted. Returns the requests the upstream received meanwhile.
fn chain_sizes(t: &Target, up: &CountingUpstream, report: &mut Vec<String>) -> usize {
    let envoy = t.name == "envoy";
    let requests = up.counts().2;
    let mut accepted = 0;
    for (fillers, accept) in [(10, true), (17, envoy), (22, false)] {
        let (ok, why) = chain_of(t, fillers);
        report.push(format!("{} chain with {fillers} fillers: 200 {ok}: {why:?}", t.name));
        let allowed = why.keys().any(|k| k.starts_with("allow"));
        assert_eq!(allowed, accept, "{}: chain with {fillers} fillers: {why:?}", t.name);
        if accept {
            accepted += 1;
            assert!(ok || envoy, "{}: {fillers} fillers admitted but no 200", t.name);
        } else {
            assert!(!ok && !why.contains_key("ssl.handshake"), "{}: {why:?}", t.name);
            let reason = if envoy { "ssl.connection_error" } else { "TooLarge" };
            assert!(why.keys().any(|k| k.contains(reason)), "{}: {fillers} fillers: {why:?}", t.name);
        }
    }
    let seen = up.counts().2 - requests;
    assert!(seen <= accepted, "{}: {seen} requests from {accepted} accepted chains", t.name);
    assert!(envoy || seen == accepted, "host: {seen} requests from {accepted} accepted chains");
    seen
}

/// One byte a second of a real ClientHello, at most `limit` bytes: the server must close first
/// (the host after its DECISION_TIMEOUT, Envoy after its 15 s listener-filter timeout).
fn slowloris(addr: SocketAddr, ca: &TestCa, limit: usize) -> (usize, Duration, bool) {
    let config = client_config(&[ca.root_der().to_vec()], None, rustls::DEFAULT_VERSIONS).unwrap();
    let mut c = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut hello = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut hello).unwrap();
    }
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let started = Instant::now();
    let mut sent = 0;
    for b in hello.iter().take(limit) {
        if s.write_all(&[*b]).is_err() {
            return (sent, started.elapsed(), true);
        }
        sent += 1;
        // The 1 s read timeout paces the client; a read of 0 or an error is the server's close.
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => return (sent, started.elapsed(), true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(_) | Err(_) => return (sent, started.elapsed(), true),
        }
    }
    (sent, started.elapsed(), false)
}

/// `openssl s_client -tls1_2` with a mesh certificate, fed `input`: its output.
fn s_client(addr: SocketAddr, dir: &Path, input: &str) -> String {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let mut child = Command::new("openssl")
        .args(["s_client", "-tls1_2", "-crlf", "-connect", &addr.to_string(), "-servername", "localhost"])
        .args(["-CAfile", &p("ca.crt"), "-cert", &p("sleep.crt"), "-key", &p("sleep.key")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is required for this test (Debian package openssl)");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    // s_client reads commands line by line; pause between them so each is its own action.
    let writer = std::thread::spawn(move || {
        for line in input.lines() {
            std::thread::sleep(Duration::from_millis(700));
            if stdin.write_all(format!("{line}\n").as_bytes()).is_err() {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    // Bounded: the writer ends after its lines, and s_client exits at the end of its stdin.
    let _ = writer.join();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A client certificate for s_client in `dir` (`sleep.crt`, `sleep.key`, `ca.crt`).
fn write_client_files(ca: &TestCa, dir: &Path) {
    let leaf = ca.issue(&LeafSpec::spiffe(MESH_ID)).unwrap();
    std::fs::write(dir.join("sleep.crt"), leaf.cert_pem).unwrap();
    std::fs::write(dir.join("sleep.key"), leaf.key_pem).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.root_pem()).unwrap();
}

/// Renegotiation: the control request is admitted; after `R` no request gets through.
fn renegotiation(t: &Target, dir: &Path, up: &CountingUpstream, report: &mut Vec<String>) {
    write_client_files(&t.ca, dir);
    let request = "GET / HTTP/1.1\nHost: localhost";
    let requests = up.counts().2;
    let control = s_client(t.addr, dir, &format!("{request}\n\n"));
    assert!(control.contains("HTTP/1.1 200"), "{}: the s_client control request: {control}", t.name);
    assert_eq!(up.counts().2, requests + 1, "{}: control request", t.name);
    let before = (t.evidence)();
    let attack = s_client(t.addr, dir, &format!("{request}\n\nR\n{request}\n\n"));
    assert!(attack.contains("RENEGOTIATING"), "{}: s_client did not try: {attack}", t.name);
    let after_r = attack.split("RENEGOTIATING").nth(1).unwrap_or_default();
    assert!(!after_r.contains("HTTP/1.1 200"), "{}: a request got through after renegotiation: {attack}", t.name);
    assert_eq!(up.counts().2, requests + 2, "{}: only the request before `R` reached the upstream", t.name);
    let why = moved(&before, &(t.evidence)());
    let refused = after_r.lines().filter(|l| l.contains("renegotiation") || l.contains("alert")).collect::<Vec<_>>();
    assert!(!refused.is_empty(), "{}: s_client shows no refusal after R: {after_r}", t.name);
    report.push(format!("{} renegotiation: client saw {refused:?}; evidence {why:?}", t.name));
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn hostile_clients_are_refused_with_a_reason_by_the_host_and_by_envoy() {
    let dir = scratch("hostile");
    let up = CountingUpstream::start();
    let mut report = Vec::new();

    // The host: STRICT policies, network filter.
    let host_dir = dir.join("host");
    std::fs::create_dir_all(&host_dir).unwrap();
    let host_ca = TestCa::generate("cluster.local").unwrap();
    host_ca.save(&host_dir).unwrap();
    let (host, port) = start_host(&host_dir, "network", up.addr);
    let host_pid = host.0.id();
    let host_log = host_dir.join("host-network.log");
    let log = host_log.clone();
    let host_target = Target {
        name: "host",
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        ca: host_ca,
        evidence: Box::new(move || host_evidence(&log)),
    };

    // Envoy: the strict suite's configuration, without PROXY protocol (s_client cannot send it).
    let envoy_dir = dir.join("envoy");
    let suite = load_suite(&root().join("tests/suites/strict.yaml")).unwrap();
    let wasm = std::fs::canonicalize(wasm_path(meshlock_testbed::FILTER_WASIP1)).unwrap();
    let prepared = prepare(&suite, &wasm, &envoy_dir, up.addr).unwrap();
    let kinds = [FilterKind::Network, FilterKind::Http];
    let spec = BootstrapSpec {
        filter: wasm,
        plugin_config: kinds.iter().map(|k| (k.as_str(), Runner::plugin_config(&suite, *k).unwrap())).collect(),
        listeners: kinds
            .iter()
            .map(|k| InboundListener { kind: *k, address: prepared.listeners[k.as_str()] })
            .collect(),
        upstream: up.addr,
        admin: prepared.admin,
        certs: CertFiles::in_dir(&envoy_dir),
        proxy_protocol: false,
        outbound: None,
    };
    std::fs::write(&prepared.config, bootstrap_yaml(&spec).unwrap()).unwrap();
    let envoy_bin = locate_envoy(Some(&root())).map_err(|e| e.to_string()).unwrap();
    let envoy = Arc::new(
        EnvoyProcess::start(&envoy_bin, &prepared.config, prepared.admin, &envoy_dir.join("envoy.log"), READY_TIMEOUT)
            .unwrap(),
    );
    let e = envoy.clone();
    let envoy_target = Target {
        name: "envoy",
        addr: prepared.listeners["network"],
        ca: prepared.ca,
        evidence: Box::new(move || envoy_evidence(&e)),
    };

    let fds_before = open_fds(host_pid);
    let requests_before = up.counts().2;

    // Slowloris on both at once (each bounded to 20 bytes, one a second).
    let (host_addr, envoy_addr) = (host_target.addr, envoy_target.addr);
    let slow_host = {
        let ca = TestCa::load(&host_dir).unwrap();
        std::thread::spawn(move || slowloris(host_addr, &ca, 20))
    };
    let envoy_root = envoy_dir;
    let slow_envoy = std::thread::spawn(move || slowloris(envoy_addr, &TestCa::load(&envoy_root).unwrap(), 20));

    let mut rows = 0;
    let mut chain_requests = 0;
    for t in [&host_target, &envoy_target] {
        rows += cuts(t, &up, &mut report);
        rows += garbage(t, &up, &mut report);
        chain_requests += chain_sizes(t, &up, &mut report);
        rows += 3;
        let reneg_dir = dir.join(format!("reneg-{}", t.name));
        std::fs::create_dir_all(&reneg_dir).unwrap();
        renegotiation(t, &reneg_dir, &up, &mut report);
        rows += 1;
    }

    for (name, handle) in [("host", slow_host), ("envoy", slow_envoy)] {
        let (sent, took, closed) = handle.join().unwrap();
        report
            .push(format!("{name} slowloris: {sent} bytes in {} ms, closed by the server: {closed}", took.as_millis()));
        assert!(closed, "{name}: the slow client was never closed ({sent} bytes in {took:?})");
    }
    let host_why = host_evidence(&host_log);
    assert!(host_why.contains_key("timeout: not admitted"), "host log: {host_why:?}");
    let envoy_why = envoy_evidence(&envoy);
    assert!(envoy_why.keys().any(|k| k.contains("downstream_pre_cx_timeout")), "envoy: {envoy_why:?}");

    // Nothing leaks: the upstream got exactly the admitted requests (per target: the uncut
    // client and s_client's request twice; plus what the accepted chains sent), the host's fds
    // are back, Envoy is ready.
    assert_eq!(up.counts().2 - requests_before, 2 * 3 + chain_requests, "requests at the upstream");
    let started = Instant::now();
    let fds_after = loop {
        let n = open_fds(host_pid);
        if n <= fds_before + 2 || started.elapsed() > Duration::from_secs(10) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(fds_after <= fds_before + 2, "host fds: {fds_before} before, {fds_after} after");
    assert_eq!(admin_get(envoy.admin, "/ready", IO_TIMEOUT).unwrap().trim(), "LIVE");
    report.push(format!("rows {rows}; host fds {fds_before} → {fds_after}; upstream {:?}", up.counts()));
    println!("{}", report.join("\n"));
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}
