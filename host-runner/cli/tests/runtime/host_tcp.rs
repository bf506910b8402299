//! `meshlock host` over loopback with curl: plaintext refused, mTLS admitted. The host is a
//! child process bound to 127.0.0.1 on an OS-assigned port, killed by PID when the test ends
//! (also on failure); every wait is bounded.

use crate::support::{root, scratch, strict_policies, wasm_path};
use meshlock_testbed::ca::{IssuerKind, LeafSpec, TestCa};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Kills the child by its PID on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tiny HTTP upstream on 127.0.0.1: answers at most `max` connections, then stops.
fn upstream(max: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = "hello from upstream\n";
            let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    addr
}

/// Starts `meshlock host` with the `kind` filter (certificates in `dir`); its port.
pub fn start_host(dir: &Path, kind: &str, up: SocketAddr) -> (Guard, u16) {
    let config = dir.join(format!("plugin-{kind}.json"));
    std::fs::write(&config, crate::support::plugin_config("inbound", kind, &strict_policies())).unwrap();
    let log = std::fs::File::create(dir.join(format!("host-{kind}.log"))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshlock"))
        .args([
            "host",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up.to_string(),
            "--cert-dir",
            dir.to_str().unwrap(),
            "--filter",
            wasm_path(meshlock_testbed::FILTER_WASIP1).to_str().unwrap(),
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("listening on ") {
                let _ = tx.send(line);
            }
        }
    });
    // Compiling the module in a debug build takes seconds; bounded anyway.
    let line = rx.recv_timeout(Duration::from_secs(180)).expect("meshlock host did not report its address in time");
    let addr = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()).unwrap();
    let port = addr.parse::<SocketAddr>().unwrap().port();
    (guard, port)
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is required for this test (Debian package curl)")
}

/// (curl exit code, HTTP status, body).
fn fetch(args: &[&str]) -> (Option<i32>, String, String) {
    let o = curl(args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
    (o.status.code(), status.to_owned(), body.to_owned())
}

#[test]
fn curl_through_the_host_plaintext_refused_mtls_admitted() {
    let dir = scratch("host-tcp");
    let ca = TestCa::generate("cluster.local").unwrap();
    ca.save(&dir).unwrap();
    for (name, issuer) in [("client", IssuerKind::Mesh), ("evil", IssuerKind::Untrusted)] {
        let leaf =
            ca.issue(&LeafSpec { issuer, ..LeafSpec::spiffe("spiffe://cluster.local/ns/bar/sa/sleep") }).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), leaf.cert_pem).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), leaf.key_pem).unwrap();
    }
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let up = upstream(32);

    // HTTP filter: 403 local replies, 200 through to the upstream.
    let (_host, port) = start_host(&dir, "http", up);
    let url = format!("https://localhost:{port}/");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let (code, status, body) = fetch(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!((code, status.as_str()), (Some(0), "403"), "{body}");
    assert!(body.contains("plaintext"), "{body}");
    let (code, status, body) = fetch(&["--resolve", &resolve, "--cacert", &p("ca.crt"), &url]);
    assert_eq!((code, status.as_str()), (Some(0), "403"), "{body}");
    assert!(body.contains("no_client_certificate"), "{body}");
    let (code, status, body) = fetch(&[
        "--resolve",
        &resolve,
        "--cacert",
        &p("ca.crt"),
        "--cert",
        &p("client.crt"),
        "--key",
        &p("client.key"),
        &url,
    ]);
    assert_eq!((code, status.as_str()), (Some(0), "200"), "{body}");
    assert_eq!(body, "hello from upstream\n");
    let (code, _, _) = fetch(&[
        "--resolve",
        &resolve,
        "--cacert",
        &p("ca.crt"),
        "--cert",
        &p("evil.crt"),
        "--key",
        &p("evil.key"),
        &url,
    ]);
    assert_ne!(code, Some(0), "a certificate from an untrusted CA must fail the handshake");

    // Network filter: the connection is closed, or relayed.
    let (_net, port) = start_host(&dir, "network", up);
    let url = format!("https://localhost:{port}/");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let (code, status, _) = fetch(&[&format!("http://127.0.0.1:{port}/")]);
    assert!(
        matches!(code, Some(52 | 56)) && status == "000",
        "plaintext must be closed without a reply: curl {code:?} {status}"
    );
    let (code, status, body) = fetch(&[
        "--resolve",
        &resolve,
        "--cacert",
        &p("ca.crt"),
        "--cert",
        &p("client.crt"),
        "--key",
        &p("client.key"),
        &url,
    ]);
    assert_eq!((code, status.as_str()), (Some(0), "200"), "{body}");
    assert_eq!(body, "hello from upstream\n");

    let log = std::fs::read_to_string(dir.join("host-http.log")).unwrap();
    assert!(log.contains("meshlock: request: deny (plaintext)"), "{log}");
    assert!(log.contains("meshlock: request: allow (mtls_peer)"), "{log}");
}
