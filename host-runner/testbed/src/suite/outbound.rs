//! Outbound cases of a suite: the suite's workload calls a service through its client-side
//! sidecar (the filter outbound, Istio mTLS origination with the workload's certificate), and
//! the upstream presents a given identity, a certificate without one, a certificate of another
//! root, or plaintext. The sidecar is the host's [`crate::outbound`] here, or Envoy's outbound
//! listener ([`crate::envoy::runner`]); both call the same [`UpstreamServer`]s and are judged
//! by the same [`observe`]. Everything runs over real sockets on 127.0.0.1.

use super::{Decision, Observed, OutboundCase, Stage, SuiteError, UpstreamForm, decision_metrics};
use crate::ca::{Issued, IssuerKind, LeafSpec, TestCa};
use crate::datapath::FilterKind;
use crate::envoy::{PluginDirection, compiled_configuration};
use crate::outbound::{ClientTls, ENDPOINT_HEADER, OutboundProxy, REASON_HEADER, Route, UpstreamTls};
use meshlock_proxy_host::{FilterModule, PluginSettings};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The header the app's request of outbound case `index` carries, picking that case's
/// upstream: every case may name the same service, each with its own upstream.
pub fn endpoint_of(index: usize) -> String {
    format!("case-{index}")
}

/// What the client sidecar originates toward the case's upstream: Istio mTLS with the SNI
/// Istio's client sends for a service port without a subset (the core's rule), or plaintext.
pub fn upstream_tls(case: &OutboundCase) -> UpstreamTls {
    match (case.originates_tls(), case.destination()) {
        (true, Some((host, port))) => {
            UpstreamTls::IstioMutual { sni: meshlock_core::client::istio_mutual_sni(port, None, host) }
        }
        _ => UpstreamTls::Plaintext,
    }
}

/// The workload's certificate (its SPIFFE ID from the core), minted by `ca`: what its client
/// sidecar presents to an upstream.
pub fn client_leaf(ca: &TestCa, workload: (&str, &str, Option<&str>)) -> Result<Issued, String> {
    let (key, policies, version) = workload;
    let identity = super::workload_identity_of(key, policies, version)?;
    ca.issue(&LeafSpec::spiffe(&identity)).map_err(|e| e.to_string())
}

/// Runs one outbound case in the host: a fresh client-side sidecar for `workload`, an upstream
/// presenting the case's form, one request through them.
pub fn run_case(
    module: &FilterModule,
    ca: &TestCa,
    file: &str,
    workload: (&str, &str, Option<&str>),
    (index, case): (usize, &OutboundCase),
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
    let client_leaf = client_leaf(ca, workload).map_err(setup)?;
    let (host, port) = case.destination().ok_or_else(|| setup(format!("`to: {}` is not HOST:PORT", case.to)))?;
    let upstream = UpstreamServer::start(ca, &case.upstream).map_err(setup)?;
    let endpoint = endpoint_of(index);
    let route = Route {
        host: host.to_owned(),
        port,
        endpoint: endpoint.clone(),
        address: upstream.addr,
        tls: upstream_tls(case),
    };
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
    let response = call(sidecar_addr, &case.to, &endpoint);
    let _ = server.join();
    let after = proxy.vm.lock().map(|vm| vm.metrics()).unwrap_or_default();
    let counted = decision_metrics(&before, &after);
    Ok(response.map(|r| observe(&r, &counted, case.originates_tls())))
}

/// The app's call through a client sidecar listening on `addr`: a plaintext `GET /` to
/// `authority`, the case's upstream picked by `endpoint`; the whole response (bounded).
pub fn call(addr: SocketAddr, authority: &str, endpoint: &str) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    write!(s, "GET / HTTP/1.1\r\nhost: {authority}\r\n{ENDPOINT_HEADER}: {endpoint}\r\nconnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = s.take(1024 * 1024).read_to_end(&mut out);
    Ok(out)
}

/// `tls`: the client side originated Istio mTLS (the upstream presented a certificate).
pub fn observe(response: &[u8], counted: &[(String, String)], tls: bool) -> Observed {
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
    // The detail: the host sidecar's header, else the first line of a failure's body (Envoy's
    // wording, or the filter's).
    let body = text.split_once("\r\n\r\n").and_then(|(_, b)| b.lines().next()).map(str::trim).unwrap_or_default();
    let detail = header(REASON_HEADER).or_else(|| (status != "200" && !body.is_empty()).then(|| body.to_owned()));
    let effect = match detail {
        Some(d) => format!("{status} ({d})"),
        None => status,
    };
    Observed { decision, mtls: tls && stage == Stage::Filter, stage, reason, effect }
}

/// A test server on 127.0.0.1: each connection handled on its own thread; it stops accepting
/// when dropped.
#[derive(Debug)]
pub struct UpstreamServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl UpstreamServer {
    /// An upstream answering each request with 200, plaintext or TLS presenting a certificate
    /// of the form's identity.
    pub fn start(ca: &TestCa, form: &UpstreamForm) -> Result<Self, String> {
        let tls = match form {
            UpstreamForm::Word(_) => None,
            UpstreamForm::Tls { identity, issuer } => Some(server_config(ca, identity, issuer.as_deref())?),
        };
        Self::serve(move |tcp| answer(tcp, tls.clone())).map_err(|e| e.to_string())
    }

    /// Binds a free loopback port and runs `handle` for every connection until dropped.
    pub fn serve(handle: impl Fn(TcpStream) + Clone + Send + 'static) -> std::io::Result<Self> {
        let socket = TcpListener::bind("127.0.0.1:0")?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            for tcp in socket.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                let handle = handle.clone();
                std::thread::spawn(move || handle(tcp));
            }
        });
        Ok(Self { addr, stop })
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn server_config(ca: &TestCa, identity: &str, issuer: Option<&str>) -> Result<Arc<ServerConfig>, String> {
    let spec = LeafSpec {
        common_name: "upstream".to_owned(),
        uris: if identity == "none" { Vec::new() } else { vec![identity.to_owned()] },
        dns: if identity == "none" { vec!["upstream.local".to_owned()] } else { Vec::new() },
        issuer: if issuer == Some("untrusted") { IssuerKind::Untrusted } else { IssuerKind::Mesh },
        ..LeafSpec::default()
    };
    let leaf = ca.issue(&spec).map_err(|e| e.to_string())?;
    let chain: Vec<CertificateDer<'static>> = leaf.chain_der().into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der));
    let config =
        ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// One connection: read the request head (one read: the calls are small), answer 200, close.
fn answer(tcp: TcpStream, tls: Option<Arc<ServerConfig>>) {
    let _ = tcp.set_read_timeout(Some(TIMEOUT));
    let _ = tcp.set_write_timeout(Some(TIMEOUT));
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
}
