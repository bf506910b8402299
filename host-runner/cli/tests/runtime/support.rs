//! Shared helpers: the built filter modules (compiled once per test binary) and paths.

use meshlock_proxy_host::FilterModule;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// The filter built for a triple; panics with the build instruction when it is missing.
pub fn wasm_path(rel: &str) -> PathBuf {
    let p = target_dir().join(rel);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/build-filter.sh (it builds the filter for wasm32-wasip1 and wasm32-unknown-unknown)",
        p.display()
    );
    p
}

pub fn wasip1() -> &'static FilterModule {
    static M: OnceLock<FilterModule> = OnceLock::new();
    M.get_or_init(|| FilterModule::from_file(&wasm_path(meshlock_testbed::FILTER_WASIP1)).expect("compile wasip1"))
}

pub fn unknown() -> &'static FilterModule {
    static M: OnceLock<FilterModule> = OnceLock::new();
    M.get_or_init(|| {
        FilterModule::from_file(&wasm_path(meshlock_testbed::FILTER_UNKNOWN)).expect("compile unknown-unknown")
    })
}

pub fn suite_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/suites"))
        .expect("tests/suites")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshlock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The policies of the suites' workloads plus a STRICT namespace policy, as one YAML text.
pub fn strict_policies() -> String {
    let dir = root().join("tests/suites/policies");
    let w = std::fs::read_to_string(dir.join("workloads.yaml")).expect("workloads.yaml");
    let s = std::fs::read_to_string(dir.join("strict.yaml")).expect("strict.yaml");
    format!("{w}\n---\n{s}")
}

/// The plugin configuration the shipped filter reads: foo/httpbin's compiled policy for
/// `direction`. Policies that do not compile (the refusal tests' broken YAML) give the YAML
/// form instead, which the shipped filter refuses too (it reads no YAML), fail closed.
pub fn plugin_config(direction: &str, kind: &str, policies: &str) -> String {
    use meshlock_testbed::datapath::FilterKind;
    use meshlock_testbed::envoy::{PluginDirection, compiled_configuration};
    let filter_kind = if kind == "network" { FilterKind::Network } else { FilterKind::Http };
    let dir = if direction == "outbound" { PluginDirection::Outbound } else { PluginDirection::Inbound };
    compiled_configuration("foo/httpbin", policies, None, dir, filter_kind).unwrap_or_else(|_| {
        serde_json::json!({
            "direction": direction,
            "workload": {"namespace": "foo", "name": "httpbin"},
            "policies": policies,
            "log": "decisions",
            "kind": kind,
        })
        .to_string()
    })
}

/// A keep-alive HTTP/1.1 upstream on 127.0.0.1 (a thread per connection) that answers every
/// request head (these requests have no body) with 200 and counts connections, bytes received
/// and requests answered. Stopped on drop.
pub struct CountingUpstream {
    pub addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CountingUpstream {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let me = Self {
            addr,
            connections: Arc::default(),
            bytes: Arc::default(),
            requests: Arc::default(),
            stop: Arc::default(),
        };
        let (c, b, r, s) = (me.connections.clone(), me.bytes.clone(), me.requests.clone(), me.stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                let (b, r, s) = (b.clone(), r.clone(), s.clone());
                std::thread::spawn(move || serve_keep_alive(stream, &b, &r, &s));
            }
        });
        me
    }

    /// (connections, bytes received, requests answered).
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.connections.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed) as u64
    }
}

fn serve_keep_alive(mut s: TcpStream, bytes: &AtomicUsize, requests: &AtomicUsize, stop: &AtomicBool) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let body = "hello from upstream\n";
    let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{body}", body.len());
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while !stop.load(Ordering::Relaxed) {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            requests.fetch_add(1, Ordering::Relaxed);
            if s.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                bytes.fetch_add(n, Ordering::Relaxed);
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

impl Drop for CountingUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}
