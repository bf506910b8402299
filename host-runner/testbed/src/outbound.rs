//! The client side of a sidecar over real sockets, as Envoy's outbound listener handles a call:
//! the app's plaintext HTTP request comes in, the request's authority names the destination,
//! the route says how to reach it (Istio mTLS with the workload's certificate, or plaintext),
//! and the filter loaded in its outbound direction decides secure naming on the certificate the
//! upstream really presented.
//!
//! Routes are given whole by the caller (`meshlock simulate` builds them from the core's
//! resolution of each call): this module originates what a route says and never decides a
//! policy itself. Failures reach the app as Envoy shows them: a 503 with Envoy's wording, the
//! detail in `x-meshlock-reason`.

use crate::ca::cert_facts;
use crate::datapath::{DataPathError, parse_request_head, parse_response_head, serialize_response};
use meshlock_core::reach::{CERTIFICATE_VERIFY_FAILED_503, UPSTREAM_503};
use meshlock_proxy_host::{FilterVm, Properties};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one call may take end to end (connect, handshake, response).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response relayed to the app.
const MAX_RESPONSE: usize = 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;
/// The header naming the endpoint a call must land on (the load balancer's pick, pinned).
pub const ENDPOINT_HEADER: &str = "x-meshlock-endpoint";
/// The response header the client sidecar adds: `mtls` or `plaintext`, what it originated.
pub const UPSTREAM_HEADER: &str = "x-meshlock-upstream";
/// The detail of a failure the client sidecar answers with a 503.
pub const REASON_HEADER: &str = "x-meshlock-reason";
/// What failed, when the client sidecar answers with its own 503 ([`UpstreamFailure`]): what a
/// caller of the sidecar reads instead of matching the body's words.
pub const FAILURE_HEADER: &str = "x-meshlock-failure";

/// Why the client sidecar could not relay a call, each with Envoy's wording for the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The upstream's certificate chain did not verify against the mesh root.
    CertificateVerifyFailed,
    /// Any other failure: connect, handshake, reset, no or no HTTP response, the filter.
    Upstream,
}

impl UpstreamFailure {
    /// The value of [`FAILURE_HEADER`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificateVerifyFailed => "certificate_verify_failed",
            Self::Upstream => "upstream",
        }
    }

    pub fn from_header(value: &str) -> Option<Self> {
        [Self::CertificateVerifyFailed, Self::Upstream].into_iter().find(|f| f.as_str() == value)
    }

    /// Envoy's 503 text for it (the core's symptom).
    fn wording(self) -> &'static str {
        match self {
            Self::CertificateVerifyFailed => CERTIFICATE_VERIFY_FAILED_503,
            Self::Upstream => UPSTREAM_503,
        }
    }
}
/// The ALPN Istio's client sidecar offers to another sidecar.
pub const ISTIO_ALPN: [&[u8]; 2] = [b"istio-peer-exchange", b"istio"];

/// What the client sidecar puts on the wire toward one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTls {
    Plaintext,
    /// Istio mTLS with this SNI (`outbound_.PORT_.SUBSET_.HOST`).
    IstioMutual {
        sni: String,
    },
}

/// One destination endpoint of the client sidecar.
#[derive(Debug, Clone)]
pub struct Route {
    /// The service's FQDN and port, as the request's authority names them.
    pub host: String,
    pub port: u16,
    /// `namespace/name` of the endpoint workload.
    pub endpoint: String,
    pub address: SocketAddr,
    pub tls: UpstreamTls,
}

/// The workload's certificate and the mesh roots.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// Leaf first, DER.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER.
    pub key: Vec<u8>,
    pub roots: Vec<Vec<u8>>,
}

/// Verifies the server's chain against the mesh roots and nothing else: Istio's client sidecar
/// matches the server's SANs (secure naming), never a host name, and here the filter's outbound
/// direction does that on the verified certificate.
#[derive(Debug)]
struct MeshRootVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for MeshRootVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name mismatch means the chain verified.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The rustls client configuration of a client sidecar: the workload's certificate, the mesh
/// roots, Istio's ALPN.
pub fn client_config(tls: &ClientTls) -> Result<Arc<ClientConfig>, DataPathError> {
    let mut roots = RootCertStore::empty();
    for r in &tls.roots {
        roots.add(CertificateDer::from(r.clone()))?;
    }
    let webpki =
        WebPkiServerVerifier::builder(Arc::new(roots)).build().map_err(|e| DataPathError::Verifier(e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = tls.chain.iter().map(|c| CertificateDer::from(c.clone())).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(tls.key.clone()));
    let mut config = ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(MeshRootVerifier(webpki)))
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = ISTIO_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client sidecar: the outbound filter's VM, the routes, the workload's TLS client.
#[derive(Clone)]
pub struct OutboundProxy {
    pub vm: Arc<Mutex<FilterVm>>,
    routes: Arc<Vec<Route>>,
    tls: Arc<ClientConfig>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for OutboundProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundProxy").field("routes", &self.routes.len()).finish_non_exhaustive()
    }
}

/// A reply of the client sidecar itself.
struct Reply {
    status: u32,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// Envoy's 503 for a call whose upstream failed, in the core's wording for `failure`.
    fn upstream_failure(failure: UpstreamFailure, reason: &str) -> Self {
        let wording = failure.wording();
        let text = wording.strip_prefix("503 ").unwrap_or(wording);
        Self {
            status: 503,
            headers: vec![
                (REASON_HEADER.to_owned(), reason.replace(['\r', '\n'], " ")),
                (FAILURE_HEADER.to_owned(), failure.as_str().to_owned()),
            ],
            body: format!("{text}\n").into_bytes(),
        }
    }
    fn bytes(&self) -> Vec<u8> {
        serialize_response(self.status, &self.headers, &self.body)
    }
}

impl OutboundProxy {
    pub fn new(vm: FilterVm, routes: Vec<Route>, tls: &ClientTls) -> Result<Self, DataPathError> {
        Ok(Self {
            vm: Arc::new(Mutex::new(vm)),
            routes: Arc::new(routes),
            tls: client_config(tls)?,
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// Accepts connections until the listener fails; each call runs on a blocking thread.
    pub async fn serve(self, socket: tokio::net::TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = socket.accept().await?;
            let stream = stream.into_std()?;
            let proxy = self.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = proxy.handle(stream) {
                    eprintln!("meshlock host (outbound): connection from {peer}: {e}");
                }
            });
        }
    }

    fn route(&self, authority: &str, endpoint: Option<&str>) -> Option<&Route> {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok()?),
            None => (authority, 80),
        };
        self.routes
            .iter()
            .filter(|r| r.host == host && r.port == port)
            .find(|r| endpoint.is_none_or(|e| e == r.endpoint))
    }

    /// One call from the app: read its request, originate, check, answer.
    pub fn handle(&self, mut down: TcpStream) -> std::io::Result<()> {
        down.set_nonblocking(false)?;
        down.set_read_timeout(Some(CALL_TIMEOUT))?;
        down.set_write_timeout(Some(CALL_TIMEOUT))?;
        let mut request = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let head = loop {
            let n = down.read(&mut buf)?;
            request.extend_from_slice(buf.get(..n).unwrap_or_default());
            match parse_request_head(&request, MAX_HEAD) {
                Ok(Some(h)) => break h,
                Ok(None) if n > 0 => {}
                Ok(None) | Err(_) => {
                    let reply = Reply { status: 400, headers: Vec::new(), body: b"Bad Request".to_vec() };
                    return down.write_all(&reply.bytes());
                }
            }
        };
        let reply = self.call(&down, &head, &request);
        down.write_all(&reply)?;
        let _ = down.shutdown(std::net::Shutdown::Both);
        Ok(())
    }

    fn call(&self, down: &TcpStream, head: &crate::datapath::RequestHead, request: &[u8]) -> Vec<u8> {
        let mut props = Properties::new();
        props.set_int("connection.id", i64::try_from(self.next_id.fetch_add(1, Ordering::Relaxed)).unwrap_or(0));
        if let Ok(a) = down.peer_addr() {
            props.set_str("source.address", &a.to_string()).set_int("source.port", i64::from(a.port()));
        }
        let header = |name: &str| head.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let authority = header("host").unwrap_or_default();
        let Ok(mut vm) = self.vm.lock() else {
            return Reply::upstream_failure(UpstreamFailure::Upstream, "filter VM lock poisoned").bytes();
        };
        let started = vm
            .create_stream(props)
            .and_then(|id| vm.on_request_headers(id, head.filter_headers(false), !head.has_body()).map(|_| id));
        let id = match started {
            Ok(id) => id,
            Err(e) => {
                return Reply::upstream_failure(UpstreamFailure::Upstream, &format!("filter failed: {e}")).bytes();
            }
        };
        if let Some(r) = vm.stream(id).and_then(|s| s.local_response.clone()) {
            let _ = vm.finish_stream(id, false);
            return serialize_response(r.status, &r.headers, &r.body);
        }
        drop(vm);
        let endpoint = header(ENDPOINT_HEADER);
        let outcome = match self.route(&authority, endpoint.as_deref()) {
            Some(route) => self.originate(route, request),
            None => Err(Reply {
                status: 404,
                headers: vec![(REASON_HEADER.to_owned(), format!("no route to `{authority}`"))],
                body: b"route_not_found\n".to_vec(),
            }),
        };
        let Ok(mut vm) = self.vm.lock() else {
            return Reply::upstream_failure(UpstreamFailure::Upstream, "filter VM lock poisoned").bytes();
        };
        let bytes = match outcome {
            Err(reply) => reply.bytes(),
            Ok(up) => check_response(&mut vm, id, up),
        };
        let _ = vm.finish_stream(id, false);
        bytes
    }

    /// Connects to the route's endpoint, sends the request, reads the whole response.
    fn originate(&self, route: &Route, request: &[u8]) -> Result<Upstream, Reply> {
        let fail = |e: &dyn std::fmt::Display| Reply::upstream_failure(UpstreamFailure::Upstream, &e.to_string());
        let tcp = TcpStream::connect_timeout(&route.address, CALL_TIMEOUT).map_err(|e| fail(&e))?;
        tcp.set_read_timeout(Some(CALL_TIMEOUT)).map_err(|e| fail(&e))?;
        tcp.set_write_timeout(Some(CALL_TIMEOUT)).map_err(|e| fail(&e))?;
        match &route.tls {
            UpstreamTls::Plaintext => {
                let mut tcp = tcp;
                tcp.write_all(request).map_err(|e| fail(&e))?;
                let response = read_response(&mut tcp).map_err(|e| fail(&e))?;
                Ok(Upstream { response, peer_uri_san: None, tls_version: None, mtls: false })
            }
            UpstreamTls::IstioMutual { sni } => {
                let name = ServerName::try_from(sni.clone()).map_err(|e| fail(&e))?;
                let conn = ClientConnection::new(Arc::clone(&self.tls), name).map_err(|e| fail(&e))?;
                let mut tls = StreamOwned::new(conn, tcp);
                let tls_failure = |e: std::io::Error| {
                    let verify = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
                    let failure =
                        if verify { UpstreamFailure::CertificateVerifyFailed } else { UpstreamFailure::Upstream };
                    Reply::upstream_failure(failure, &format!("TLS: {e}"))
                };
                while tls.conn.is_handshaking() {
                    tls.conn.complete_io(&mut tls.sock).map_err(tls_failure)?;
                }
                let peer_uri_san = tls
                    .conn
                    .peer_certificates()
                    .and_then(<[_]>::first)
                    .and_then(|c| cert_facts(c).ok())
                    .and_then(|f| f.uris.into_iter().next());
                let tls_version = match tls.conn.protocol_version() {
                    Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                    _ => "TLSv1.3",
                };
                tls.write_all(request).map_err(tls_failure)?;
                tls.flush().map_err(tls_failure)?;
                let response = read_response(&mut tls).map_err(tls_failure)?;
                Ok(Upstream { response, peer_uri_san, tls_version: Some(tls_version), mtls: true })
            }
        }
    }
}

/// What came back from the upstream.
struct Upstream {
    response: Vec<u8>,
    peer_uri_san: Option<String>,
    /// Envoy's `upstream.tls_version`: set on a TLS upstream only.
    tls_version: Option<&'static str>,
    mtls: bool,
}

/// Reads until the upstream closes (the calls are `connection: close`), bounded in size; a TLS
/// peer that closes without close_notify still ends the response.
fn read_response(stream: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(buf.get(..n).unwrap_or_default());
                if out.len() > MAX_RESPONSE {
                    return Ok(out);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => return Ok(out),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !out.is_empty() => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

/// The response head goes through the filter (secure naming on the upstream's certificate)
/// before the app sees it.
fn check_response(vm: &mut FilterVm, id: u32, up: Upstream) -> Vec<u8> {
    let (status, headers, len) = match parse_response_head(&up.response, MAX_HEAD) {
        Ok(Some(h)) => h,
        Ok(None) if up.response.is_empty() => {
            return Reply::upstream_failure(UpstreamFailure::Upstream, "the upstream closed without a response")
                .bytes();
        }
        Ok(None) | Err(_) => {
            return Reply::upstream_failure(UpstreamFailure::Upstream, "the upstream's response is not HTTP/1.1")
                .bytes();
        }
    };
    if let Ok(s) = vm.stream_mut(id) {
        // What Envoy states for a response that came from the upstream (its own replies say why
        // it made them instead).
        s.properties.set_str("response.code_details", "via_upstream");
        if let Some(version) = up.tls_version {
            s.properties.set_str("upstream.tls_version", version);
        }
        if let Some(san) = &up.peer_uri_san {
            s.properties.set_str("upstream.uri_san_peer_certificate", san);
        }
    }
    let mut map = vec![(":status".to_owned(), status.to_string().into_bytes())];
    map.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())));
    if let Err(e) = vm.on_response_headers(id, map, false) {
        return Reply::upstream_failure(UpstreamFailure::Upstream, &format!("filter failed: {e}")).bytes();
    }
    if let Some(r) = vm.stream(id).and_then(|s| s.local_response.clone()) {
        return serialize_response(r.status, &r.headers, &r.body);
    }
    let mut headers = headers;
    headers.push((UPSTREAM_HEADER.to_owned(), if up.mtls { "mtls" } else { "plaintext" }.to_owned()));
    let body = up.response.get(len..).unwrap_or_default();
    let mut out = format!("HTTP/1.1 {status} \r\n").into_bytes();
    for (k, v) in headers.iter().filter(|(k, _)| k != "connection") {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}
