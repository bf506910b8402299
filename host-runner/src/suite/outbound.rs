//! Outbound cases of a suite: the suite's workload calls a service through its client-side
//! sidecar ([`crate::outbound`]: the filter outbound, Istio mTLS origination with the workload's
//! certificate), and the upstream presents a given identity, a certificate without one, a
//! certificate of another root, or plaintext. Each case runs over real sockets on 127.0.0.1.

use super::{Decision, Observed, OutboundCase, Stage, SuiteError, UpstreamForm, decision_metrics};
use crate::ca::{IssuerKind, LeafSpec, TestCa};
use crate::datapath::FilterKind;
use crate::envoy::{PluginDirection, compiled_configuration};
use crate::outbound::{ClientTls, OutboundProxy, REASON_HEADER, Route, UpstreamTls};
use crate::wasm_host::{FilterModule, PluginSettings};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one outbound case: a fresh client-side sidecar for `workload`, an upstream presenting
/// the case's form, one request through them.
pub fn run_case(
    module: &FilterModule,
    ca: &TestCa,
    file: &str,
    workload: (&str, &str, Option<&str>),
    case: &OutboundCase,
) -> Result<Result<Observed, String>, SuiteError> {
    let (key, policies, version) = workload;
    let setup = |message: String| SuiteError::Setup { file: file.to_owned(), message };
    let config = compiled_configuration(key, policies, version, PluginDirection::Outbound, FilterKind::Http)
        .map_err(|message| SuiteError::Configuration { file: file.to_owned(), message })?;
    let vm =
        module.start(PluginSettings::new(config, &FilterKind::Http.root_id())).map_err(|e| setup(e.to_string()))?;
    if !vm.configured() {
        let why = vm.logs().iter().map(|l| l.message.clone()).collect::<Vec<_>>().join("; ");
        return Err(SuiteError::Configuration { file: file.to_owned(), message: why });
    }
    let identity = super::workload_identity_of(key, policies, version).map_err(setup)?;
    let client_leaf = ca.issue(&LeafSpec::spiffe(&identity)).map_err(|e| setup(e.to_string()))?;
    let (host, port) = case.to.rsplit_once(':').unwrap_or((case.to.as_str(), "80"));
    let port: u16 = port.parse().unwrap_or(80);
    let upstream = start_upstream(ca, &case.upstream).map_err(setup)?;
    let tls = match case.upstream {
        UpstreamForm::Word(_) => UpstreamTls::Plaintext,
        UpstreamForm::Tls { .. } => UpstreamTls::IstioMutual { sni: format!("outbound_.{port}_._.{host}") },
    };
    let route = Route { host: host.to_owned(), port, endpoint: String::new(), address: upstream, tls };
    let client =
        ClientTls { chain: client_leaf.chain_der(), key: client_leaf.key_der, roots: vec![ca.root_der().to_vec()] };
    let proxy = OutboundProxy::new(vm, vec![route], &client).map_err(|e| setup(e.to_string()))?;
    let before = proxy.vm.lock().map(|vm| vm.metrics()).unwrap_or_default();
    let sidecar = TcpListener::bind("127.0.0.1:0").map_err(|e| setup(e.to_string()))?;
    let sidecar_addr = sidecar.local_addr().map_err(|e| setup(e.to_string()))?;
    let serving = proxy.clone();
    let server = std::thread::spawn(move || {
        if let Ok((stream, _)) = sidecar.accept() {
            let _ = serving.handle(stream);
        }
    });
    let response = call(sidecar_addr, &case.to);
    let _ = server.join();
    let after = proxy.vm.lock().map(|vm| vm.metrics()).unwrap_or_default();
    let counted = decision_metrics(&before, &after);
    let tls = matches!(case.upstream, UpstreamForm::Tls { .. });
    Ok(response.map(|r| observe(&r, &counted, tls)))
}

fn call(addr: std::net::SocketAddr, authority: &str) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    write!(s, "GET / HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = s.take(1024 * 1024).read_to_end(&mut out);
    Ok(out)
}

/// `tls`: the client side originated Istio mTLS (the upstream presented a certificate).
fn observe(response: &[u8], counted: &[(String, String)], tls: bool) -> Observed {
    let text = String::from_utf8_lossy(response);
    let status = text.split(' ').nth(1).unwrap_or_default().to_owned();
    let header = |name: &str| {
        text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
        })
    };
    let filter = counted.first().cloned();
    let (decision, stage, reason) = match filter {
        Some((verdict, reason)) => {
            (if verdict == "allow" { Decision::Allow } else { Decision::Deny }, Stage::Filter, reason)
        }
        None if text.contains("CERTIFICATE_VERIFY_FAILED") => {
            (Decision::Deny, Stage::Handshake, "certificate_verify_failed".to_owned())
        }
        None => (Decision::Deny, Stage::Handshake, header(REASON_HEADER).unwrap_or_else(|| "no response".to_owned())),
    };
    let effect = match header(REASON_HEADER) {
        Some(r) => format!("{status} ({r})"),
        None => status,
    };
    Observed { decision, mtls: tls && stage == Stage::Filter, stage, reason, effect }
}

/// An upstream on 127.0.0.1 answering one request with 200: plaintext, or TLS presenting a
/// certificate of the form's identity.
fn start_upstream(ca: &TestCa, form: &UpstreamForm) -> Result<std::net::SocketAddr, String> {
    let socket = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = socket.local_addr().map_err(|e| e.to_string())?;
    let tls = match form {
        UpstreamForm::Word(_) => None,
        UpstreamForm::Tls { identity, issuer } => {
            let spec = LeafSpec {
                common_name: "upstream".to_owned(),
                uris: if identity == "none" { Vec::new() } else { vec![identity.clone()] },
                dns: if identity == "none" { vec!["upstream.local".to_owned()] } else { Vec::new() },
                issuer: if issuer.as_deref() == Some("untrusted") { IssuerKind::Untrusted } else { IssuerKind::Mesh },
                ..LeafSpec::default()
            };
            let leaf = ca.issue(&spec).map_err(|e| e.to_string())?;
            let chain: Vec<CertificateDer<'static>> = leaf.chain_der().into_iter().map(CertificateDer::from).collect();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der));
            let config = ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| e.to_string())?;
            Some(Arc::new(config))
        }
    };
    std::thread::spawn(move || {
        let Ok((tcp, _)) = socket.accept() else { return };
        let _ = tcp.set_read_timeout(Some(TIMEOUT));
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nupstream\n";
        let mut buf = [0u8; 4096];
        match tls.and_then(|c| ServerConnection::new(c).ok()) {
            Some(conn) => {
                let mut s = StreamOwned::new(conn, tcp);
                if s.read(&mut buf).is_ok_and(|n| n > 0) {
                    let _ = s.write_all(reply);
                    s.conn.send_close_notify();
                    let _ = s.flush();
                }
            }
            None => {
                let mut tcp = tcp;
                if tcp.read(&mut buf).is_ok_and(|n| n > 0) {
                    let _ = tcp.write_all(reply);
                }
            }
        }
    });
    Ok(addr)
}
