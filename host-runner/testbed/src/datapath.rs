//! The server side of one connection, as Envoy's inbound listener handles it, sans I/O.
//!
//! The listener in the reference Envoy configuration (`tls_inspector`, a TLS filter chain with
//! `require_client_certificate: false` and the mesh CA as `trusted_ca`, a plaintext catch-all
//! chain, the meshlock filter on both) is what this reproduces:
//!
//! 1. sniff the first bytes like `tls_inspector`: a TLS handshake record holding a ClientHello
//!    selects the TLS chain, anything else the plaintext chain;
//! 2. on the TLS chain, terminate TLS with rustls: a client certificate is optional, and when
//!    one is presented it must chain to the mesh root (else the handshake fails and the filter
//!    never runs);
//! 3. give the filter Envoy 1.40's properties and call it: the network filter on the first
//!    downstream data (close on deny), the HTTP filter with the parsed request head (local
//!    reply on deny).
//!
//! [`Connection`] is fed bytes and hands bytes back; [`memory`] pumps it against an in-memory
//! rustls client, [`crate::tcp`] against sockets.

pub mod memory;

use crate::ca::cert_facts;
use meshlock_proxy_host::{Action, FilterVm, HostError, LocalResponse, Properties};
pub(crate) use meshlock_wire::http::serialize_response;
pub use meshlock_wire::http::{RequestHead, parse_request_head, parse_response_head};
use meshlock_wire::sniff::sniff;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use std::io::{Read as _, Write as _};
use std::sync::Arc;

/// Which Envoy filter the module is loaded as: the plugin configuration's `kind`.
pub use meshlock_core::compile::plugin::FilterKind;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataPathError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    #[error("certificate: {0}")]
    Certificate(String),
}

/// The server's certificate and the roots client certificates must chain to.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Leaf first, DER.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER.
    pub key: Vec<u8>,
    /// The mesh roots (DER).
    pub roots: Vec<Vec<u8>>,
}

/// What every connection on one listener shares.
#[derive(Debug, Clone)]
pub struct Listener {
    tls: Arc<ServerConfig>,
    local: Properties,
    kind: FilterKind,
    /// No TLS chain: every connection takes the plaintext chain (Istio's inbound listener for
    /// a port whose mTLS is DISABLE), so TLS bytes reach the filter and the app as they are.
    plaintext_only: bool,
}

impl Listener {
    pub fn new(server: &ServerTls, kind: FilterKind) -> Result<Self, DataPathError> {
        let mut roots = RootCertStore::empty();
        for r in &server.roots {
            roots.add(CertificateDer::from(r.clone()))?;
        }
        // Optional at the TLS layer, verified when presented: the filter decides STRICT vs
        // PERMISSIVE (Envoy: require_client_certificate false + validation_context).
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .allow_unauthenticated()
            .build()
            .map_err(|e| DataPathError::Verifier(e.to_string()))?;
        let chain: Vec<CertificateDer<'static>> =
            server.chain.iter().map(|c| CertificateDer::from(c.clone())).collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key.clone()));
        let config = ServerConfig::builder().with_client_cert_verifier(verifier).with_single_cert(chain, key)?;
        let mut local = Properties::new();
        if let Some(leaf) = server.chain.first() {
            let f = cert_facts(leaf).map_err(|e| DataPathError::Certificate(e.to_string()))?;
            if let Some(u) = f.uris.first() {
                local.set_str("connection.uri_san_local_certificate", u);
            }
            if let Some(d) = f.dns.first() {
                local.set_str("connection.dns_san_local_certificate", d);
            }
            local.set_str("connection.subject_local_certificate", &f.subject);
        }
        Ok(Self { tls: Arc::new(config), local, kind, plaintext_only: false })
    }

    /// The same listener without its TLS chain (a DISABLE port).
    #[must_use]
    pub fn plaintext_only(mut self) -> Self {
        self.plaintext_only = true;
        self
    }

    pub fn kind(&self) -> FilterKind {
        self.kind
    }

    /// The rustls server configuration every connection of this listener uses (the bare-rustls
    /// baseline of the data-path benchmark handshakes against the very same one).
    pub fn tls_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.tls)
    }
}

/// Addresses and ids of one connection, as Envoy reports them.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    pub id: u64,
    pub source: std::net::SocketAddr,
    pub destination: std::net::SocketAddr,
}

impl ConnMeta {
    fn properties(&self) -> Properties {
        let mut p = Properties::new();
        p.set_int("connection.id", i64::try_from(self.id).unwrap_or(i64::MAX))
            .set_str("source.address", &self.source.to_string())
            .set_int("source.port", i64::from(self.source.port()))
            .set_str("destination.address", &self.destination.to_string())
            .set_int("destination.port", i64::from(self.destination.port()))
            // Present on every connection, 0 until a verified client certificate exists.
            .set_bool("connection.mtls", false);
        p
    }
}

/// Which filter chain the sniffed bytes selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Not enough bytes yet.
    Unknown,
    Plaintext,
    /// TLS; the version once the handshake finished (`TLSv1.3`).
    Tls(Option<String>),
}

/// What the filter did with the connection (or its first request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterAction {
    /// Continue: the bytes went on to the upstream.
    Allowed,
    /// The network filter closed the downstream.
    Closed,
    /// The HTTP filter sent a local reply.
    LocalReply(LocalResponse),
    /// Paused without a reply or a close: the bytes are held.
    Held,
}

/// Everything observed about one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnOutcome {
    pub transport: Transport,
    /// `connection.mtls` as given to the filter.
    pub mtls: bool,
    pub peer_uri_san: Option<String>,
    /// The TLS handshake failed (or never finished); the filter did not run.
    pub handshake_error: Option<String>,
    /// The HTTP codec rejected the request (Envoy's 400); the filter did not run.
    pub codec_error: Option<String>,
    pub filter: Option<FilterAction>,
    /// The filter VM failed (trap or dead): fail closed.
    pub vm_error: Option<String>,
    /// The connection properties the filter was given (Envoy 1.40 names and encodings).
    pub properties: Properties,
}

impl ConnOutcome {
    fn new() -> Self {
        Self {
            transport: Transport::Unknown,
            mtls: false,
            peer_uri_san: None,
            handshake_error: None,
            codec_error: None,
            filter: None,
            vm_error: None,
            properties: Properties::new(),
        }
    }
}

enum Phase {
    Sniffing(Vec<u8>),
    Tls(Box<ServerConnection>),
    Plain,
}

/// The server side of one downstream connection.
pub struct Connection {
    listener: Listener,
    phase: Phase,
    props: Properties,
    stream: Option<u32>,
    decided: bool,
    http_head: Vec<u8>,
    /// The upstream's response head, held until the HTTP filter saw it.
    response_head: Vec<u8>,
    response_checked: bool,
    to_client: Vec<u8>,
    to_upstream: Vec<u8>,
    closed: bool,
    outcome: ConnOutcome,
}

const MAX_HEAD: usize = 64 * 1024;

impl Connection {
    pub fn new(listener: &Listener, meta: &ConnMeta) -> Self {
        Self {
            listener: listener.clone(),
            phase: Phase::Sniffing(Vec::new()),
            props: meta.properties(),
            stream: None,
            decided: false,
            http_head: Vec::new(),
            response_head: Vec::new(),
            response_checked: false,
            to_client: Vec::new(),
            to_upstream: Vec::new(),
            closed: false,
            outcome: ConnOutcome::new(),
        }
    }

    /// What happened so far, with the connection's current properties.
    pub fn outcome(&self) -> ConnOutcome {
        let mut o = self.outcome.clone();
        o.properties = self.props.clone();
        o
    }
    pub fn is_closed(&self) -> bool {
        self.closed
    }
    pub fn take_to_client(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_client)
    }
    pub fn take_to_upstream(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_upstream)
    }
    /// Whether the filter let the connection through (bytes may flow to the upstream).
    pub fn is_admitted(&self) -> bool {
        !self.closed && self.outcome.filter == Some(FilterAction::Allowed)
    }

    fn fail_vm(&mut self, e: &HostError) {
        self.outcome.vm_error = Some(e.to_string());
        if self.listener.kind == FilterKind::Http && self.outcome.handshake_error.is_none() {
            // Envoy FAIL_CLOSED on an HTTP filter: 503.
            self.reply(&LocalResponse {
                status: 503,
                details: "wasm_fail_stream".to_owned(),
                body: b"meshlock: filter failed\n".to_vec(),
                headers: Vec::new(),
            });
        }
        self.close();
    }

    fn close(&mut self) {
        if let Phase::Tls(tls) = &mut self.phase {
            let _ = tls.write_tls(&mut self.to_client);
        }
        self.closed = true;
    }

    /// Bytes from the client.
    pub fn receive(&mut self, vm: &mut FilterVm, bytes: &[u8]) {
        if self.closed {
            return;
        }
        if let Phase::Sniffing(buf) = &mut self.phase {
            buf.extend_from_slice(bytes);
            let Some(is_tls) = sniff(buf) else {
                return;
            };
            let is_tls = is_tls && !self.listener.plaintext_only;
            let buffered = std::mem::take(buf);
            self.select_chain(vm, is_tls);
            self.receive_selected(vm, &buffered);
        } else {
            self.receive_selected(vm, bytes);
        }
    }

    fn select_chain(&mut self, vm: &mut FilterVm, is_tls: bool) {
        if is_tls {
            match ServerConnection::new(self.listener.tls.clone()) {
                Ok(c) => {
                    self.phase = Phase::Tls(Box::new(c));
                    self.outcome.transport = Transport::Tls(None);
                }
                Err(e) => {
                    self.outcome.handshake_error = Some(e.to_string());
                    self.closed = true;
                    return;
                }
            }
        } else {
            self.phase = Phase::Plain;
            self.outcome.transport = Transport::Plaintext;
        }
        if self.listener.kind == FilterKind::Network {
            // The filter chain exists now; the handshake has not finished (pitfall P2).
            let created = vm.create_stream(self.props.clone());
            match created.and_then(|id| {
                self.stream = Some(id);
                vm.on_new_connection(id)
            }) {
                Ok(_) => {}
                Err(e) => self.fail_vm(&e),
            }
        }
    }

    fn receive_selected(&mut self, vm: &mut FilterVm, bytes: &[u8]) {
        if self.closed {
            return;
        }
        let plaintext = match &mut self.phase {
            Phase::Sniffing(_) => return,
            Phase::Plain => bytes.to_vec(),
            Phase::Tls(tls) => {
                let was_handshaking = tls.is_handshaking();
                let mut input = bytes;
                let mut failure = None;
                while !input.is_empty() {
                    match tls.read_tls(&mut input) {
                        Ok(0) => break,
                        Ok(_) => {
                            if let Err(e) = tls.process_new_packets() {
                                failure = Some(e);
                                break;
                            }
                        }
                        Err(e) => {
                            failure = Some(rustls::Error::General(e.to_string()));
                            break;
                        }
                    }
                }
                let _ = tls.write_tls(&mut self.to_client);
                while tls.wants_write() {
                    if tls.write_tls(&mut self.to_client).is_err() {
                        break;
                    }
                }
                if let Some(e) = failure {
                    if tls.is_handshaking() || was_handshaking {
                        self.outcome.handshake_error = Some(e.to_string());
                    }
                    self.closed = true;
                    return;
                }
                let mut plain = Vec::new();
                match tls.reader().read_to_end(&mut plain) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {}
                }
                if was_handshaking && !tls.is_handshaking() {
                    let tls_props = tls_properties(tls, &self.listener.local);
                    self.on_handshake_done(vm, &tls_props);
                }
                plain
            }
        };
        if !plaintext.is_empty() {
            self.on_app_data(vm, &plaintext, false);
        }
    }

    fn on_handshake_done(&mut self, vm: &mut FilterVm, tls_props: &Properties) {
        self.props.extend(tls_props);
        self.outcome.mtls = tls_props.get("connection.mtls") == Some(&[1u8][..]);
        self.outcome.peer_uri_san =
            tls_props.get("connection.uri_san_peer_certificate").map(|b| String::from_utf8_lossy(b).into_owned());
        self.outcome.transport =
            Transport::Tls(tls_props.get("connection.tls_version").map(|b| String::from_utf8_lossy(b).into_owned()));
        if let Some(id) = self.stream {
            match vm.stream_mut(id) {
                Ok(s) => s.properties.extend(tls_props),
                Err(e) => self.fail_vm(&e),
            }
        }
    }

    /// Decrypted (or plaintext) bytes from the client.
    fn on_app_data(&mut self, vm: &mut FilterVm, data: &[u8], end_of_stream: bool) {
        match self.listener.kind {
            FilterKind::Network => self.network_data(vm, data, end_of_stream),
            FilterKind::Http => self.http_data(vm, data, end_of_stream),
        }
    }

    fn network_data(&mut self, vm: &mut FilterVm, data: &[u8], end_of_stream: bool) {
        let Some(id) = self.stream else {
            return;
        };
        // Envoy calls on_downstream_data for every chunk; the filter decides on the first.
        let action = match vm.on_downstream_data(id, data, end_of_stream) {
            Ok(a) => a,
            Err(e) => return self.fail_vm(&e),
        };
        let closed = vm.stream(id).is_some_and(|s| s.closed_downstream);
        if closed {
            self.outcome.filter = Some(FilterAction::Closed);
            self.close();
            return;
        }
        match action {
            Action::Continue => {
                if !self.decided {
                    self.outcome.filter = Some(FilterAction::Allowed);
                }
                self.to_upstream.extend_from_slice(data);
            }
            _ => {
                if !self.decided {
                    self.outcome.filter = Some(FilterAction::Held);
                }
            }
        }
        self.decided = true;
    }

    fn http_data(&mut self, vm: &mut FilterVm, data: &[u8], end_of_stream: bool) {
        if self.decided {
            // One request per connection is checked (the decision rests on connection facts,
            // identical for every request on it); later bytes follow the first verdict.
            if self.outcome.filter == Some(FilterAction::Allowed) {
                self.to_upstream.extend_from_slice(data);
            }
            return;
        }
        self.http_head.extend_from_slice(data);
        let head = match parse_request_head(&self.http_head, MAX_HEAD) {
            Ok(Some(h)) => h,
            Ok(None) if !end_of_stream => return,
            Ok(None) => return self.codec_error("connection closed inside the request head"),
            Err(e) => return self.codec_error(e),
        };
        self.decided = true;
        let tls = matches!(self.phase, Phase::Tls(_));
        let headers = head.filter_headers(tls);
        let result = vm.create_stream(self.props.clone()).and_then(|id| {
            self.stream = Some(id);
            vm.on_request_headers(id, headers, !head.has_body())
        });
        let action = match result {
            Ok(a) => a,
            Err(e) => return self.fail_vm(&e),
        };
        let reply = self.stream.and_then(|id| vm.stream(id)).and_then(|s| s.local_response.clone());
        if let Some(r) = reply {
            self.outcome.filter = Some(FilterAction::LocalReply(r.clone()));
            self.reply(&r);
            self.close();
            return;
        }
        if action == Action::Continue {
            self.outcome.filter = Some(FilterAction::Allowed);
            let all = std::mem::take(&mut self.http_head);
            self.to_upstream.extend_from_slice(&all);
        } else {
            self.outcome.filter = Some(FilterAction::Held);
        }
    }

    fn codec_error(&mut self, why: &str) {
        self.outcome.codec_error = Some(why.to_owned());
        self.decided = true;
        self.reply(&LocalResponse {
            status: 400,
            details: "http1.codec_error".to_owned(),
            body: b"Bad Request".to_vec(),
            headers: Vec::new(),
        });
        self.close();
    }

    fn reply(&mut self, r: &LocalResponse) {
        let bytes = serialize_response(r.status, &r.headers, &r.body);
        self.send_to_client(&bytes);
    }

    /// Bytes from the upstream. On the HTTP filter the response head goes through
    /// `on_http_response_headers` first (the outbound secure-naming check runs there).
    pub fn upstream_data(&mut self, vm: &mut FilterVm, bytes: &[u8]) {
        if self.closed {
            return;
        }
        let Some(id) = self.stream.filter(|_| self.listener.kind == FilterKind::Http) else {
            return self.send_to_client(bytes);
        };
        if self.response_checked {
            return self.send_to_client(bytes);
        }
        self.response_head.extend_from_slice(bytes);
        let (status, headers) = match parse_response_head(&self.response_head, MAX_HEAD) {
            Ok(Some((status, headers, _))) => (status, headers),
            Ok(None) => return,
            Err(e) => {
                // Envoy answers a malformed upstream response with 503.
                self.outcome.codec_error = Some(e.to_owned());
                self.reply(&LocalResponse {
                    status: 503,
                    details: "upstream_reset_before_response_started".to_owned(),
                    body: b"upstream connect error or disconnect/reset before headers\n".to_vec(),
                    headers: Vec::new(),
                });
                return self.close();
            }
        };
        self.response_checked = true;
        let mut map = vec![(":status".to_owned(), status.to_string().into_bytes())];
        map.extend(headers.into_iter().map(|(k, v)| (k, v.into_bytes())));
        let result = vm.on_response_headers(id, map, false);
        if let Err(e) = result {
            return self.fail_vm(&e);
        }
        let reply = vm.stream(id).and_then(|s| s.local_response.clone());
        match reply {
            Some(r) if self.outcome.filter == Some(FilterAction::Allowed) => {
                self.outcome.filter = Some(FilterAction::LocalReply(r.clone()));
                self.reply(&r);
                self.close();
            }
            _ => {
                let held = std::mem::take(&mut self.response_head);
                self.send_to_client(&held);
            }
        }
    }

    /// Bytes on their way to the client (encrypted on the TLS chain).
    pub fn send_to_client(&mut self, bytes: &[u8]) {
        match &mut self.phase {
            Phase::Tls(tls) => {
                if tls.writer().write_all(bytes).is_ok() {
                    while tls.wants_write() {
                        if tls.write_tls(&mut self.to_client).is_err() {
                            break;
                        }
                    }
                }
            }
            _ => self.to_client.extend_from_slice(bytes),
        }
    }

    /// The upstream closed: end the client connection too (close_notify on TLS).
    pub fn upstream_closed(&mut self) {
        if let Phase::Tls(tls) = &mut self.phase {
            tls.send_close_notify();
        }
        self.close();
    }

    /// The client closed its side.
    pub fn client_eof(&mut self, vm: &mut FilterVm) {
        if self.closed {
            return;
        }
        match &self.phase {
            Phase::Sniffing(buf) => {
                if buf.is_empty() {
                    self.closed = true;
                    return;
                }
                // Fewer bytes than tls_inspector needs: a TLS-looking prefix is a failed
                // handshake, anything else goes to the plaintext chain.
                let looks_tls = buf.first() == Some(&0x16);
                let buffered = buf.clone();
                if looks_tls {
                    self.outcome.handshake_error = Some("connection closed inside the TLS record header".to_owned());
                    self.closed = true;
                    return;
                }
                self.select_chain(vm, false);
                self.on_app_data(vm, &buffered, true);
            }
            Phase::Tls(tls) if tls.is_handshaking() => {
                self.outcome.handshake_error = Some("connection closed before the TLS handshake completed".to_owned());
            }
            Phase::Tls(_) | Phase::Plain => {
                if !self.decided {
                    self.on_app_data(vm, &[], true);
                }
            }
        }
        if !self.is_admitted() {
            self.close();
        }
    }

    /// Tears the filter's stream down (Envoy's close sequence). Call once, at the end.
    pub fn finish(&mut self, vm: &mut FilterVm) {
        if let Some(id) = self.stream.take() {
            let connection = self.listener.kind == FilterKind::Network;
            if let Err(e) = vm.finish_stream(id, connection) {
                self.outcome.vm_error.get_or_insert(e.to_string());
            }
        }
        self.closed = true;
    }
}

/// Envoy 1.40's connection properties after a finished handshake.
fn tls_properties(tls: &ServerConnection, local: &Properties) -> Properties {
    let mut p = local.clone();
    let version = match tls.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    };
    p.set_str("connection.tls_version", version);
    if let Some(sni) = tls.server_name() {
        p.set_str("connection.requested_server_name", sni);
    }
    // rustls only keeps a client certificate it verified: `connection.mtls` semantics.
    let peer = tls.peer_certificates().and_then(<[_]>::first);
    p.set_bool("connection.mtls", peer.is_some());
    if let Some(cert) = peer
        && let Ok(f) = cert_facts(cert)
    {
        // First SAN of each kind only (pitfall P4).
        if let Some(u) = f.uris.first() {
            p.set_str("connection.uri_san_peer_certificate", u);
        }
        if let Some(d) = f.dns.first() {
            p.set_str("connection.dns_san_peer_certificate", d);
        }
        p.set_str("connection.subject_peer_certificate", &f.subject);
        p.set_str("connection.sha256_peer_certificate_digest", &f.sha256);
    }
    p
}
