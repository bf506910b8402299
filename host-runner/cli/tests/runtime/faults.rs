//! Faults, on both targets: `meshlock host` (the filter in wasmtime behind rustls) and
//! real Envoy 1.40. A filter trap under FAIL_CLOSED, upstreams that die mid-request, a policy
//! switch in a running Envoy, certificate rotation in the host.
//!
//! The trap tests load the `test-panic` build of the real filter (scripts/build-filter.sh puts
//! it in `target/test-panic/`): it panics on a request carrying `x-meshlock-test-panic`. Every
//! server is a child process or thread on 127.0.0.1, stopped on drop; every wait is bounded.

use crate::support::{plugin_config, root, scratch, strict_policies, wasm_path};
use meshlock_testbed::ca::{LeafSpec, TestCa};
use meshlock_testbed::datapath::FilterKind;
use meshlock_testbed::datapath::memory::{ClientIdentity, client_config};
use meshlock_testbed::envoy::process::{EnvoyProcess, free_port, locate_envoy, log_tail};
use meshlock_testbed::envoy::{BootstrapSpec, CertFiles, InboundListener, bootstrap_yaml};
use rustls::pki_types::ServerName;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead as _, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The filter built with `--features test-panic` (never the release artifact).
const PANIC_FILTER: &str = "test-panic/wasm32-unknown-unknown/release-wasm/meshlock_filter.wasm";
/// The header (HTTP filter) or first bytes (network filter) that make the test build panic.
const MARKER: &str = "x-meshlock-test-panic";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn only_the_test_build_of_the_filter_carries_the_panic_marker() {
    let release = std::fs::read(wasm_path(meshlock_testbed::FILTER_WASIP1)).unwrap();
    let unknown = std::fs::read(wasm_path(meshlock_testbed::FILTER_UNKNOWN)).unwrap();
    let test = std::fs::read(wasm_path(PANIC_FILTER)).unwrap();
    assert!(!contains(&release, MARKER.as_bytes()), "the release wasip1 filter contains {MARKER}");
    assert!(!contains(&unknown, MARKER.as_bytes()), "the release unknown-unknown filter contains {MARKER}");
    assert!(contains(&test, MARKER.as_bytes()), "the test-panic build lacks {MARKER}");
}

// === upstream ===

/// What the upstream does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The status line, headers announcing 100 bytes, 10 of them, then close.
    PartialResponse,
    /// Reads the request, closes without a byte.
    CloseSilently,
}

const BODY: &str = "hello from upstream\n";

/// An HTTP/1.1 keep-alive upstream on 127.0.0.1 that counts the requests it reads and plays
/// the injected faults first. Stopped (listener and connections) on drop.
struct Upstream {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<Vec<std::thread::JoinHandle<()>>>>,
}

impl Upstream {
    fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// On a given address: the upstream "comes back" where it was.
    fn start_on(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, f, s) = (Arc::clone(&requests), Arc::clone(&faults), Arc::clone(&stop));
        let accept = std::thread::spawn(move || {
            let mut connections = Vec::new();
            for stream in listener.incoming().take(1000) {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (r, f, s) = (Arc::clone(&r), Arc::clone(&f), Arc::clone(&s));
                connections.push(std::thread::spawn(move || serve_connection(stream, &r, &f, &s)));
            }
            connections
        });
        Self { addr, requests, faults, stop, accept: Some(accept) }
    }

    fn inject(&self, fault: Fault) {
        self.faults.lock().unwrap().push_back(fault);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        // Down means down: the listener and every kept-alive connection are closed on return.
        if let Some(t) = self.accept.take() {
            for c in t.join().unwrap_or_default() {
                let _ = c.join();
            }
        }
    }
}

fn serve_connection(mut s: TcpStream, requests: &AtomicUsize, faults: &Mutex<VecDeque<Fault>>, stop: &AtomicBool) {
    // Short reads so a stopped upstream closes its idle keep-alive connections too; at most
    // 60 s idle and 1000 requests per connection.
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut idle = 0;
    let mut served = 0;
    while !stop.load(Ordering::Relaxed) && idle < 600 && served < 1000 {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    idle = 0;
                    buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => idle += 1,
                Err(_) => return,
            }
            continue;
        };
        buf.drain(..end + 4);
        served += 1;
        requests.fetch_add(1, Ordering::SeqCst);
        let fault = faults.lock().unwrap().pop_front();
        match fault {
            Some(Fault::PartialResponse) => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly 10 b\n");
                let _ = s.shutdown(Shutdown::Both);
                return;
            }
            Some(Fault::CloseSilently) => {
                let _ = s.shutdown(Shutdown::Both);
                return;
            }
            None => {
                let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{BODY}", BODY.len());
                if s.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

// === client ===

/// A client connection, in the clear or mTLS, that can send several requests (keep-alive).
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// What one request got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// A whole response.
    Status(u16, String),
    /// A response head whose body ended early (bytes received of those announced).
    Truncated(u16, usize, usize),
    /// No response: closed, reset, or a TLS error.
    Closed(String),
}

impl Answer {
    fn status(&self) -> Option<u16> {
        match self {
            Self::Status(s, _) | Self::Truncated(s, _, _) => Some(*s),
            Self::Closed(_) => None,
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(s, _) => write!(f, "HTTP {s}"),
            Self::Truncated(s, got, of) => write!(f, "HTTP {s} truncated ({got} of {of} body bytes)"),
            Self::Closed(how) => write!(f, "closed ({how})"),
        }
    }
}

/// The mesh the tests run in: a CA, the server certificate (localhost, 127.0.0.1, the
/// workload's SPIFFE ID) in `dir`, and a client identity from the mesh CA.
struct Mesh {
    dir: PathBuf,
    ca: TestCa,
    client: ClientIdentity,
}

impl Mesh {
    fn new(name: &str) -> Self {
        let dir = scratch(name);
        let ca = TestCa::generate("cluster.local").unwrap();
        ca.save(&dir).unwrap();
        let mesh = Self {
            client: {
                let c = ca.issue(&LeafSpec::spiffe("spiffe://cluster.local/ns/bar/sa/sleep")).unwrap();
                ClientIdentity { chain: vec![c.cert_der], key: c.key_der }
            },
            dir,
            ca,
        };
        mesh.issue_server_cert();
        mesh
    }

    /// A new server leaf from the same root, written over `server.crt` / `server.key`
    /// (each atomically); its DER.
    fn issue_server_cert(&self) -> Vec<u8> {
        let leaf = self
            .ca
            .issue(&LeafSpec {
                dns: vec!["localhost".to_owned()],
                ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
                ..LeafSpec::spiffe("spiffe://cluster.local/ns/foo/sa/httpbin")
            })
            .unwrap();
        let certs = CertFiles::in_dir(&self.dir);
        for (path, text) in [(&certs.key, &leaf.key_pem), (&certs.cert, &leaf.cert_pem)] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        leaf.cert_der
    }

    fn plaintext(&self, addr: SocketAddr) -> Conn {
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        Conn::Plain(s)
    }

    /// An mTLS connection with the mesh client identity, handshake done.
    fn mtls(&self, addr: SocketAddr) -> Result<Conn, String> {
        let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let config =
            client_config(&[self.ca.root_der().to_vec()], Some(&self.client), rustls::DEFAULT_VERSIONS).unwrap();
        let mut c = rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
        while c.is_handshaking() {
            c.complete_io(&mut s).map_err(|e| e.to_string())?;
        }
        Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(c, s))))
    }
}

impl Conn {
    /// The server's leaf certificate (TLS only).
    fn server_leaf(&self) -> Option<Vec<u8>> {
        match self {
            Self::Tls(s) => s.conn.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()),
            Self::Plain(_) => None,
        }
    }

    /// `GET /` (keep-alive) with `extra` header lines; reads one response.
    fn get(&mut self, extra: &str) -> Answer {
        let req = format!("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: meshlock-faults\r\n{extra}\r\n");
        if let Err(e) = self.write_all(req.as_bytes()).and_then(|()| self.flush()) {
            return Answer::Closed(e.to_string());
        }
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let status = head.get(9..12).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let body = buf.len() - end - 4;
                if body >= length {
                    return Answer::Status(status, String::from_utf8_lossy(&buf[end + 4..]).into_owned());
                }
                match self.read(&mut chunk) {
                    Ok(0) => return Answer::Truncated(status, body, length),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Answer::Truncated(status, body, length),
                }
                continue;
            }
            match self.read(&mut chunk) {
                Ok(0) => return Answer::Closed(format!("eof after {} bytes", buf.len())),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Answer::Closed(e.kind().to_string()),
            }
        }
    }
}

/// One request on a fresh connection: `mtls` or plaintext, with `extra` header lines.
fn once(mesh: &Mesh, addr: SocketAddr, mtls: bool, extra: &str) -> Answer {
    if mtls {
        match mesh.mtls(addr) {
            Ok(mut c) => c.get(extra),
            Err(e) => Answer::Closed(format!("handshake: {e}")),
        }
    } else {
        mesh.plaintext(addr).get(extra)
    }
}

// === targets ===

/// `meshlock host` as a child process, killed by PID on drop; its stdout lines arrive on `lines`.
struct Host {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    fn start(mesh: &Mesh, kind: &str, filter: &Path, upstream: SocketAddr) -> Self {
        let config = mesh.dir.join(format!("plugin-{kind}.json"));
        std::fs::write(&config, plugin_config("inbound", kind, &strict_policies())).unwrap();
        let log = mesh.dir.join(format!("host-{kind}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_meshlock"))
            .args(["host", "--listen", "127.0.0.1:0", "--upstream", &upstream.to_string()])
            .arg("--config")
            .arg(&config)
            .arg("--cert-dir")
            .arg(&mesh.dir)
            .arg("--filter")
            .arg(filter)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut host = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), lines, log };
        // Compiling the module in a debug build takes seconds; bounded anyway.
        let line = host.wait_line("listening on ", Duration::from_secs(180));
        let addr = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()).unwrap();
        host.addr = addr.parse().unwrap();
        host
    }

    /// The next stdout line containing `needle`, within `timeout`.
    fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|e| format!("meshlock host: no line with {needle:?} ({e}); stderr:\n{}", self.stderr()))
                .unwrap();
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

fn envoy_binary() -> PathBuf {
    locate_envoy(Some(&root())).map_err(|e| e.to_string()).unwrap()
}

/// Envoy with an HTTP and a network listener (no PROXY protocol: `destination.port` is the
/// listener's own port), each filter in its own VM, FAIL_CLOSED, STRICT policies.
struct Envoy {
    process: EnvoyProcess,
    http: SocketAddr,
    network: SocketAddr,
}

impl Envoy {
    fn start(mesh: &Mesh, filter: &Path, upstream: SocketAddr) -> Self {
        let (http, network, admin) = (free_port().unwrap(), free_port().unwrap(), free_port().unwrap());
        let spec = BootstrapSpec {
            filter: std::fs::canonicalize(filter).unwrap(),
            plugin_config: BTreeMap::from([
                ("http", plugin_config("inbound", "http", &strict_policies())),
                ("network", plugin_config("inbound", "network", &strict_policies())),
            ]),
            listeners: vec![
                InboundListener { kind: FilterKind::Http, address: http },
                InboundListener { kind: FilterKind::Network, address: network },
            ],
            upstream,
            admin,
            certs: CertFiles::in_dir(&mesh.dir),
            proxy_protocol: false,
            outbound: None,
        };
        let yaml = bootstrap_yaml(&spec).unwrap();
        assert_eq!(yaml.matches("failure_policy: FAIL_CLOSED").count(), 4);
        let path = mesh.dir.join("envoy.yaml");
        std::fs::write(&path, yaml).unwrap();
        let process = EnvoyProcess::start(&envoy_binary(), &path, admin, &mesh.dir.join("envoy.log"), IO_TIMEOUT * 6)
            .map_err(|e| e.to_string())
            .unwrap();
        Self { process, http, network }
    }

    fn log(&self) -> String {
        // The log is flushed every 50 ms.
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(&self.process.log).unwrap_or_default()
    }
}

// === 1. a filter trap under FAIL_CLOSED ===

/// What plaintext and mTLS clients see on an HTTP-filter port around a trap: `(before, after)`
/// lines, and asserts that nothing unfiltered reached the upstream.
fn trap_http(mesh: &Mesh, addr: SocketAddr, upstream: &Upstream) -> Vec<String> {
    let mut seen = Vec::new();
    let marker = format!("{MARKER}: 1\r\n");
    assert_eq!(once(mesh, addr, true, ""), Answer::Status(200, BODY.to_owned()), "mTLS before the trap");
    assert_eq!(once(mesh, addr, false, "").status(), Some(403), "plaintext before the trap");
    assert_eq!(upstream.requests(), 1);
    let trapped = once(mesh, addr, true, &marker);
    seen.push(format!("marked mTLS: {trapped}"));
    assert_eq!(trapped.status(), Some(503), "the trapping request: {trapped}");
    for i in 0..3 {
        let a = once(mesh, addr, false, "");
        seen.push(format!("plaintext #{i}: {a}"));
        assert_eq!(a.status(), Some(503), "plaintext after the trap: {a}");
    }
    for i in 0..3 {
        let a = once(mesh, addr, true, "");
        seen.push(format!("mTLS #{i}: {a}"));
        // Neither target reloads the VM under FAIL_CLOSED: the filter stays down, so admitted
        // peers are refused too, until a restart.
        assert_eq!(a.status(), Some(503), "mTLS after the trap: {a}");
    }
    assert_eq!(upstream.requests(), 1, "a request reached the upstream after the trap: {seen:?}");
    seen
}

/// The same on a network-filter port: the marker in the first bytes traps the VM.
fn trap_network(mesh: &Mesh, addr: SocketAddr, upstream: &Upstream) -> Vec<String> {
    let mut seen = Vec::new();
    let before = upstream.requests();
    assert_eq!(once(mesh, addr, true, ""), Answer::Status(200, BODY.to_owned()), "mTLS before the trap");
    assert!(matches!(once(mesh, addr, false, ""), Answer::Closed(_)), "plaintext before the trap");
    assert_eq!(upstream.requests(), before + 1);
    let trapped = once(mesh, addr, false, &format!("{MARKER}: 1\r\n"));
    seen.push(format!("marked plaintext: {trapped}"));
    assert!(matches!(trapped, Answer::Closed(_)), "{trapped}");
    for i in 0..3 {
        let a = once(mesh, addr, false, "");
        seen.push(format!("plaintext #{i}: {a}"));
        assert!(matches!(a, Answer::Closed(_)), "plaintext after the trap: {a}");
    }
    for i in 0..3 {
        let a = once(mesh, addr, true, "");
        seen.push(format!("mTLS #{i}: {a}"));
        assert!(matches!(a, Answer::Closed(_)), "mTLS after the trap: {a}");
    }
    assert_eq!(upstream.requests(), before + 1, "a request reached the upstream after the trap: {seen:?}");
    seen
}

#[test]
fn a_trap_in_the_host_fails_closed_on_a_strict_port() {
    let mesh = Mesh::new("faults-trap-host");
    let filter = wasm_path(PANIC_FILTER);
    let upstream = Upstream::start();
    for kind in ["http", "network"] {
        let mut host = Host::start(&mesh, kind, &filter, upstream.addr);
        let seen = if kind == "http" {
            trap_http(&mesh, host.addr, &upstream)
        } else {
            trap_network(&mesh, host.addr, &upstream)
        };
        println!("host {kind}: {seen:?}");
        assert!(host.alive(), "the host process died with its filter");
        let log = host.stderr();
        assert!(log.contains(&format!("{MARKER} requested a panic")), "no panic logged:\n{log}");
    }
    let _ = std::fs::remove_dir_all(&mesh.dir);
}

#[test]
fn a_trap_in_envoy_fails_closed_on_a_strict_port_and_the_vm_is_not_reloaded() {
    let mesh = Mesh::new("faults-trap-envoy");
    let upstream = Upstream::start();
    let envoy = Envoy::start(&mesh, &wasm_path(PANIC_FILTER), upstream.addr);
    let http = trap_http(&mesh, envoy.http, &upstream);
    println!("envoy http: {http:?}");
    // The network filter has its own VM (vm_id per kind): the HTTP trap did not take it down.
    let network = trap_network(&mesh, envoy.network, &upstream);
    println!("envoy network: {network:?}");
    let log = envoy.log();
    assert_eq!(log.matches(&format!("{MARKER} requested a panic")).count(), 2, "{}", log_tail(&envoy.process.log, 30));
    // Envoy is still serving (admin answers), it only refuses traffic through the dead VMs.
    assert!(envoy.process.counters("server.live").unwrap().values().any(|v| *v == 1));
    let _ = std::fs::remove_dir_all(&mesh.dir);
}

// === 2. an upstream that dies mid-request ===

/// Faults at the upstream, each followed by a healthy request, through `addr` (mTLS clients):
/// what the client saw for each fault. The upstream is stopped and restarted in place once.
fn upstream_faults(
    mesh: &Mesh,
    addr: SocketAddr,
    upstream: &mut Upstream,
    alive: &mut dyn FnMut() -> bool,
) -> Vec<Answer> {
    let healthy = Answer::Status(200, BODY.to_owned());
    let mut seen = Vec::new();
    for fault in [Some(Fault::PartialResponse), Some(Fault::CloseSilently), None] {
        let answer = match fault {
            Some(f) => {
                upstream.inject(f);
                once(mesh, addr, true, "")
            }
            None => {
                // Down: nothing listens on the upstream's port; then back on the same port.
                let at = upstream.addr;
                drop(std::mem::replace(upstream, Upstream::start()));
                let answer = once(mesh, addr, true, "");
                *upstream = Upstream::start_on(at);
                answer
            }
        };
        assert_ne!(answer, healthy, "{fault:?}: the client got a whole response");
        assert!(alive(), "{fault:?}: the proxy died");
        let next = once(mesh, addr, true, "");
        assert_eq!(next, healthy, "{fault:?}: the next request after the upstream recovered");
        seen.push(answer);
    }
    seen
}

#[test]
fn an_upstream_dying_mid_request_fails_that_request_only_in_the_host() {
    let mesh = Mesh::new("faults-upstream-host");
    let filter = wasm_path(meshlock_testbed::FILTER_UNKNOWN);
    let mut upstream = Upstream::start();
    let mut report = Vec::new();
    for kind in ["http", "network"] {
        let mut host = Host::start(&mesh, kind, &filter, upstream.addr);
        let seen = upstream_faults(&mesh, host.addr, &mut upstream, &mut || host.alive());
        report.push(format!("{kind}: {}", seen.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ")));
        // The relay passes what the upstream sent, then closes: the client sees the truncation.
        assert_eq!(seen[0], Answer::Truncated(200, 10, 100), "{kind}: partial response");
        // No response head from the upstream: the host closes the client connection (no 5xx
        // of its own; Envoy answers 503 here).
        assert!(matches!(seen[1], Answer::Closed(_)), "{kind}: silent close: {}", seen[1]);
        assert!(matches!(seen[2], Answer::Closed(_)), "{kind}: upstream down: {}", seen[2]);
    }
    println!("host: {report:#?}");
    let _ = std::fs::remove_dir_all(&mesh.dir);
}

#[test]
fn an_upstream_dying_mid_request_fails_that_request_only_in_envoy() {
    let mesh = Mesh::new("faults-upstream-envoy");
    let mut upstream = Upstream::start();
    let envoy = Envoy::start(&mesh, &wasm_path(meshlock_testbed::FILTER_UNKNOWN), upstream.addr);
    let mut alive = || envoy.process.counters("server.live").is_ok_and(|c| c.values().any(|v| *v == 1));
    let http = upstream_faults(&mesh, envoy.http, &mut upstream, &mut alive);
    let network = upstream_faults(&mesh, envoy.network, &mut upstream, &mut alive);
    println!("envoy http: {http:?}\nenvoy network: {network:?}");
    // Headers already forwarded: Envoy can only cut the body short.
    assert_eq!(http[0], Answer::Truncated(200, 10, 100));
    // Before any response byte: Envoy's own 503.
    assert_eq!(http[1].status(), Some(503), "{}", http[1]);
    assert_eq!(http[2].status(), Some(503), "{}", http[2]);
    assert_eq!(network[0], Answer::Truncated(200, 10, 100));
    assert!(matches!(network[1], Answer::Closed(_)), "{}", network[1]);
    assert!(matches!(network[2], Answer::Closed(_)), "{}", network[2]);
    let _ = std::fs::remove_dir_all(&mesh.dir);
}

// === 4. certificate rotation in the host ===

#[test]
fn the_host_rotates_its_certificate_on_sighup_without_dropping_connections() {
    use meshlock_testbed::ca::cert_facts;
    let mesh = Mesh::new("faults-rotate");
    let upstream = Upstream::start();
    let mut host = Host::start(&mesh, "http", &wasm_path(meshlock_testbed::FILTER_UNKNOWN), upstream.addr);
    let healthy = Answer::Status(200, BODY.to_owned());
    let mut before = mesh.mtls(host.addr).unwrap();
    assert_eq!(before.get(""), healthy);
    let old = cert_facts(&before.server_leaf().unwrap()).unwrap();

    let hup = |host: &Host| {
        let status = Command::new("kill").args(["-HUP", &host.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    };
    // A key that cannot be read: the reload is refused and the current certificate stays.
    std::fs::write(CertFiles::in_dir(&mesh.dir).key, "not a key\n").unwrap();
    hup(&host);
    let until = Instant::now() + IO_TIMEOUT * 6;
    while !host.stderr().contains("certificate reload failed, keeping the current certificate") {
        assert!(Instant::now() < until, "no refusal logged:\n{}", host.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut kept = mesh.mtls(host.addr).unwrap();
    assert_eq!(kept.server_leaf().map(|c| cert_facts(&c).unwrap().serial), Some(old.serial.clone()));
    assert_eq!(kept.get(""), healthy);

    // New leaf, same root, written in place; then SIGHUP (by PID).
    let new_der = mesh.issue_server_cert();
    let new = cert_facts(&new_der).unwrap();
    assert_ne!(old.serial, new.serial);
    hup(&host);
    let line = host.wait_line("reloaded the server certificate", IO_TIMEOUT * 6);
    assert!(line.contains(&new.serial), "{line} (expected serial {})", new.serial);

    // The connection established before the rotation keeps working, on its old certificate.
    for _ in 0..3 {
        assert_eq!(before.get(""), healthy, "the established connection after the rotation");
    }
    assert_eq!(before.server_leaf().map(|c| cert_facts(&c).unwrap().serial), Some(old.serial.clone()));
    // New connections present the new leaf, which chains to the same root.
    let mut after = mesh.mtls(host.addr).unwrap();
    let presented = cert_facts(&after.server_leaf().unwrap()).unwrap();
    assert_eq!((presented.serial.as_str(), presented.not_before), (new.serial.as_str(), new.not_before));
    assert_eq!(presented.issuer, old.issuer);
    assert_eq!(after.get(""), healthy);
    // Enforcement is unchanged: plaintext is still refused.
    assert_eq!(once(&mesh, host.addr, false, "").status(), Some(403));
    assert!(host.alive());
    println!("rotated: serial {} -> {}, {} upstream requests", old.serial, new.serial, upstream.requests());
    assert_eq!(upstream.requests(), 6);
    let _ = std::fs::remove_dir_all(&mesh.dir);
}

// === 3. a policy switch in a running Envoy: file-based LDS ===

/// The suites' workloads with the policy file `mode` (`permissive`, `strict`).
fn policies(mode: &str) -> String {
    let dir = root().join("tests/suites/policies");
    let w = std::fs::read_to_string(dir.join("workloads.yaml")).unwrap();
    let p = std::fs::read_to_string(dir.join(format!("{mode}.yaml"))).unwrap();
    format!("{w}\n---\n{p}")
}

/// Whether an admin `/config_dump` shows LDS at `version` with an active (warmed) listener
/// whose configuration holds `holds`. (The active listener's own `version_info` stays at the
/// version that created it after an in-place filter-chain update; the LDS-level one moves.)
fn serves_version(dump: &str, version: &str, holds: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(dump) else { return false };
    let Some(lds) = v["configs"].as_array().and_then(|c| c.iter().find(|c| c["dynamic_listeners"].is_array())) else {
        return false;
    };
    let Some(first) = lds["dynamic_listeners"].as_array().and_then(|l| l.first()) else { return false };
    lds["version_info"] == version
        && first["warming_state"].is_null()
        && first["active_state"]["listener"].to_string().contains(holds)
}

/// Envoy started here rather than through `EnvoyProcess`, for the drain flags; killed by PID on
/// drop.
struct DrainingEnvoy {
    child: Child,
    admin: SocketAddr,
    log: PathBuf,
}

impl Drop for DrainingEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a filter chain removed by a listener update keeps its connections.
const DRAIN_SECONDS: u64 = 10;

impl DrainingEnvoy {
    fn start(config: &Path, admin: SocketAddr, log: &Path) -> Self {
        // A base id of its own (shared-memory names), away from the ones EnvoyProcess picks, and
        // one per instance: tests in this process run at the same time.
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let nth = u32::try_from(STARTED.fetch_add(1, Ordering::Relaxed) % 8).unwrap();
        let base_id = (std::process::id() % 100_000) * 100 + 91 + nth;
        let child = Command::new(envoy_binary())
            .args(["--concurrency", "1", "-l", "info", "--file-flush-interval-msec", "50"])
            .args(["--drain-strategy", "immediate", "--drain-time-s", &DRAIN_SECONDS.to_string()])
            .args(["--base-id", &base_id.to_string()])
            .arg("-c")
            .arg(config)
            .arg("--log-path")
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut me = Self { child, admin, log: log.to_owned() };
        me.wait_for("/ready", |b| b.trim() == "LIVE");
        me
    }

    /// Polls admin `path` until `done(body)`, at most 30 s.
    fn wait_for(&mut self, path: &str, done: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        let mut last: String;
        loop {
            assert!(self.child.try_wait().unwrap().is_none(), "Envoy exited:\n{}", log_tail(&self.log, 20));
            match meshlock_testbed::envoy::process::admin_get(self.admin, path, Duration::from_secs(1)) {
                Ok(body) if done(&body) => return body,
                Ok(body) => last = body,
                Err(e) => last = e.to_string(),
            }
            let last = last.get(..2000.min(last.len())).unwrap_or(&last);
            assert!(Instant::now() < until, "{path}: not there in 30 s; last answer:\n{last}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn counter(&mut self, name: &str) -> u64 {
        let body = self.wait_for(&format!("/stats?filter=^{name}$"), |b| b.contains(name));
        body.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap().trim().parse().unwrap()
    }
}

#[test]
fn a_listener_update_from_permissive_to_strict_by_lds_file_in_envoy() {
    use meshlock_testbed::envoy::{bootstrap_with_lds_file, lds_file};
    let mesh = Mesh::new("faults-lds");
    let upstream = Upstream::start();
    let (http, admin) = (free_port().unwrap(), free_port().unwrap());
    let spec = |mode: &str| BootstrapSpec {
        filter: std::fs::canonicalize(wasm_path(meshlock_testbed::FILTER_UNKNOWN)).unwrap(),
        plugin_config: BTreeMap::from([("http", plugin_config("inbound", "http", &policies(mode)))]),
        listeners: vec![InboundListener { kind: FilterKind::Http, address: http }],
        upstream: upstream.addr,
        admin,
        certs: CertFiles::in_dir(&mesh.dir),
        proxy_protocol: false,
        outbound: None,
    };
    let lds_dir = mesh.dir.join("lds");
    std::fs::create_dir_all(&lds_dir).unwrap();
    let lds = lds_dir.join("listeners.yaml");
    std::fs::write(&lds, serde_yaml::to_string(&lds_file(&spec("permissive"), "1")).unwrap()).unwrap();
    let config = mesh.dir.join("envoy.yaml");
    std::fs::write(&config, serde_yaml::to_string(&bootstrap_with_lds_file(&spec("permissive"), &lds)).unwrap())
        .unwrap();
    let mut envoy = DrainingEnvoy::start(&config, admin, &mesh.dir.join("envoy.log"));
    assert_eq!(envoy.counter("listener_manager.lds.update_success"), 1);

    // PERMISSIVE: plaintext is admitted. Three keep-alive connections opened before the switch.
    let healthy = Answer::Status(200, BODY.to_owned());
    let mut used_at_once = mesh.plaintext(http);
    let mut used_after_drain = mesh.plaintext(http);
    let mut mtls_kept = mesh.mtls(http).unwrap();
    assert_eq!(used_at_once.get(""), healthy);
    assert_eq!(used_after_drain.get(""), healthy);
    assert_eq!(mtls_kept.get(""), healthy);

    // The switch: a new file renamed over the watched one.
    let tmp = mesh.dir.join("listeners.yaml.new");
    std::fs::write(&tmp, serde_yaml::to_string(&lds_file(&spec("strict"), "2")).unwrap()).unwrap();
    std::fs::rename(&tmp, &lds).unwrap();
    // Acknowledged: the update was accepted and version 2 is the active listener (warmed).
    envoy.wait_for("/stats?filter=^listener_manager.lds.update_success$", |b| b.contains("update_success: 2"));
    // The compiled policy travels as a JSON string inside the listener: its quotes are escaped.
    envoy.wait_for("/config_dump", |b| serves_version(b, "2", r#"\"defaultMode\":\"STRICT\""#));
    let draining_at_ack = envoy.counter("listener_manager.total_filter_chains_draining");
    // Both old chains (tls, plaintext) were replaced in place and drain.
    assert_eq!(draining_at_ack, 2);

    // New connections get the STRICT filter chain at once.
    let fresh = once(&mesh, http, false, "");
    assert_eq!(fresh.status(), Some(403), "new plaintext after the switch: {fresh}");
    assert_eq!(once(&mesh, http, true, ""), healthy, "new mTLS after the switch");
    // A keep-alive connection opened before the switch stays on its old (PERMISSIVE) filter
    // chain while that chain drains (--drain-time-s, here 10 s; --drain-strategy immediate does
    // not end it sooner): its plaintext requests are still admitted, and reach the upstream.
    let old_first = used_at_once.get("");
    let old_second = used_at_once.get("");
    assert_eq!((&old_first, &old_second), (&healthy, &healthy), "old keep-alive during the drain");
    // Once the old chains are drained, their connections are closed: nothing more is admitted
    // under PERMISSIVE, on old or new connections.
    envoy.wait_for("/stats?filter=^listener_manager.total_filter_chains_draining$", |b| {
        b.contains("total_filter_chains_draining: 0")
    });
    let after_drain = used_after_drain.get("");
    let mtls_after_drain = mtls_kept.get("");
    assert!(matches!(after_drain, Answer::Closed(_)), "old plaintext keep-alive after the drain: {after_drain}");
    assert!(matches!(mtls_after_drain, Answer::Closed(_)), "old mTLS keep-alive after the drain: {mtls_after_drain}");
    assert_eq!(once(&mesh, http, false, "").status(), Some(403));
    assert_eq!(once(&mesh, http, true, ""), healthy);
    // 3 before the switch, 2 on the draining old chain, 2 new mTLS: no plaintext since the drain.
    assert_eq!(upstream.requests(), 7);
    println!(
        "filter chains draining at the ack: {draining_at_ack}; new plaintext: {fresh}; old keep-alive during the \
         drain: {old_first}, {old_second}; after the drain: plaintext {after_drain}, mTLS {mtls_after_drain}"
    );
    let _ = std::fs::remove_dir_all(&mesh.dir);
}

/// A policy change delivered by ECDS (the filter's configuration from a watched file, as Istio
/// delivers WasmPlugins) reaches connections that are already open: the HTTP filter decides
/// every request with the configuration current at that request, so a keep-alive plaintext
/// connection admitted under PERMISSIVE has its next request refused once the policy is
/// STRICT — no drain, no listener change. The network filter is instantiated once per
/// connection: a connection keeps the configuration it was accepted with, and only new
/// connections get the new one (what Envoy documents for ECDS on network filters).
#[test]
fn a_policy_update_by_ecds_reaches_open_connections_in_envoy() {
    use meshlock_testbed::envoy::{bootstrap_with_ecds, ecds_file, ecds_path};
    let mesh = Mesh::new("faults-ecds");
    let upstream = Upstream::start();
    let (http, tcp, admin) = (free_port().unwrap(), free_port().unwrap(), free_port().unwrap());
    let spec = |mode: &str| BootstrapSpec {
        filter: std::fs::canonicalize(wasm_path(meshlock_testbed::FILTER_UNKNOWN)).unwrap(),
        plugin_config: BTreeMap::from([
            ("http", plugin_config("inbound", "http", &policies(mode))),
            ("network", plugin_config("inbound", "network", &policies(mode))),
        ]),
        listeners: vec![
            InboundListener { kind: FilterKind::Http, address: http },
            InboundListener { kind: FilterKind::Network, address: tcp },
        ],
        upstream: upstream.addr,
        admin,
        certs: CertFiles::in_dir(&mesh.dir),
        proxy_protocol: false,
        outbound: None,
    };
    let ecds = mesh.dir.join("ecds");
    std::fs::create_dir_all(&ecds).unwrap();
    let publish = |mode: &str, version: &str| {
        for kind in [FilterKind::Http, FilterKind::Network] {
            let path = ecds_path(&ecds, kind);
            let tmp = path.with_extension("new");
            std::fs::write(&tmp, serde_yaml::to_string(&ecds_file(&spec(mode), kind, version)).unwrap()).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        }
    };
    publish("permissive", "1");
    let config = mesh.dir.join("envoy.yaml");
    std::fs::write(&config, serde_yaml::to_string(&bootstrap_with_ecds(&spec("permissive"), &ecds)).unwrap()).unwrap();
    let mut envoy = DrainingEnvoy::start(&config, admin, &mesh.dir.join("envoy.log"));

    let healthy = Answer::Status(200, BODY.to_owned());
    let mut http_kept = mesh.plaintext(http);
    let mut tcp_kept = mesh.plaintext(tcp);
    assert_eq!(http_kept.get(""), healthy, "PERMISSIVE admits plaintext (HTTP filter)");
    assert_eq!(tcp_kept.get(""), healthy, "PERMISSIVE admits plaintext (network filter)");

    publish("strict", "2");
    // Applied once a new plaintext request is refused by each filter (bounded: 30 s). The two
    // files are two ECDS resources, watched and applied one after the other.
    let until = Instant::now() + Duration::from_secs(30);
    let applied = || {
        once(&mesh, http, false, "").status() == Some(403) && matches!(once(&mesh, tcp, false, ""), Answer::Closed(_))
    };
    while !applied() {
        assert!(
            Instant::now() < until,
            "the STRICT policy was not applied in 30 s:\n{}",
            log_tail(&mesh.dir.join("envoy.log"), 20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The HTTP filter: the next request on the connection opened under PERMISSIVE is refused.
    let next = http_kept.get("");
    assert_eq!(next.status(), Some(403), "keep-alive plaintext after the update: {next}");
    // The network filter: the open connection keeps what it was accepted with...
    let kept = tcp_kept.get("");
    assert_eq!(kept, healthy, "network filter, connection opened before the update");
    // ...while new connections get STRICT.
    let fresh = once(&mesh, tcp, false, "");
    assert!(matches!(fresh, Answer::Closed(_)), "network filter, new plaintext connection: {fresh}");
    assert_eq!(once(&mesh, http, true, ""), healthy, "mTLS after the update");
    // No listener update happened: nothing drained.
    assert_eq!(envoy.counter("listener_manager.total_filter_chains_draining"), 0);
    println!("ECDS update: keep-alive HTTP next request {next}; network kept connection {kept}; new {fresh}");
    let _ = std::fs::remove_dir_all(&mesh.dir);
}
