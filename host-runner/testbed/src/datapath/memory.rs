//! The in-memory mode: a rustls client and the server side of [`Connection`] pumped through
//! byte buffers, with an in-memory upstream. No sockets: the suite runner and the benchmarks
//! use it.

use super::{ConnMeta, ConnOutcome, Connection, DataPathError, Listener};
use meshlock_proxy_host::FilterVm;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, SupportedProtocolVersion};
use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client certificate chain (leaf first) and its PKCS#8 key, DER.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    pub chain: Vec<Vec<u8>>,
    pub key: Vec<u8>,
}

/// What the client does.
#[derive(Debug, Clone)]
pub enum Client {
    /// Sends these bytes in the clear, then closes.
    Raw(Vec<u8>),
    /// Sends the first half of a real TLS ClientHello, then closes.
    TruncatedHello,
    /// A TLS handshake (with a client certificate when given), then the request.
    Tls(Option<ClientIdentity>),
    /// The same, offering TLS 1.2 only.
    Tls12(Option<ClientIdentity>),
}

const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

impl Client {
    /// For the TLS clients: the identity presented and the protocol versions offered.
    pub fn tls(&self) -> Option<(Option<&ClientIdentity>, &'static [&'static SupportedProtocolVersion])> {
        match self {
            Self::Tls(id) => Some((id.as_ref(), rustls::DEFAULT_VERSIONS)),
            Self::Tls12(id) => Some((id.as_ref(), TLS12_ONLY)),
            Self::Raw(_) | Self::TruncatedHello => None,
        }
    }
}

/// What the client trusts and sends.
#[derive(Debug, Clone)]
pub struct ClientSetup {
    /// Roots the client verifies the server with (DER).
    pub roots: Vec<Vec<u8>>,
    /// SNI and the name the server certificate must carry.
    pub server_name: String,
    /// The request sent in the clear or over TLS.
    pub request: Vec<u8>,
}

impl ClientSetup {
    pub fn http_get(roots: Vec<Vec<u8>>, server_name: &str, authority: &str) -> Self {
        Self {
            roots,
            server_name: server_name.to_owned(),
            request: format!("GET / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: meshlock-test\r\nAccept: */*\r\n\r\n")
                .into_bytes(),
        }
    }
}

/// What happened, seen from both ends.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub outcome: ConnOutcome,
    /// The client's TLS error (an alert from the server, a bad server certificate).
    pub client_tls_error: Option<String>,
    /// What the client read (decrypted).
    pub response: Vec<u8>,
    /// What reached the upstream.
    pub upstream_received: Vec<u8>,
    pub duration: Duration,
}

impl Exchange {
    /// The status code of the response the client read, if it read one.
    pub fn response_status(&self) -> Option<u16> {
        let text = std::str::from_utf8(self.response.get(..12)?).ok()?;
        text.strip_prefix("HTTP/1.1 ")?.parse().ok()
    }
}

/// The in-memory application behind the proxy: 200 to an HTTP request, a short line to
/// anything else.
pub fn upstream_reply(request: &[u8]) -> Vec<u8> {
    let body = "hello from upstream\n";
    if super::parse_request_head(request, 64 * 1024).ok().flatten().is_some() {
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{body}", body.len())
            .into_bytes()
    } else {
        format!("upstream received {} bytes\n", request.len()).into_bytes()
    }
}

/// The rustls client of a test case: trusts `roots`, presents `identity` when given, offers
/// `versions`. The Envoy target's socket client uses the same configuration.
pub fn client_config(
    roots: &[Vec<u8>],
    identity: Option<&ClientIdentity>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add(CertificateDer::from(r.clone()))?;
    }
    let builder = ClientConfig::builder_with_protocol_versions(versions).with_root_certificates(store);
    let config = match identity {
        Some(id) => builder.with_client_auth_cert(
            id.chain.iter().map(|c| CertificateDer::from(c.clone())).collect(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key.clone())),
        )?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn new_client(
    setup: &ClientSetup,
    identity: Option<&ClientIdentity>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ClientConnection, DataPathError> {
    let name =
        ServerName::try_from(setup.server_name.clone()).map_err(|e| DataPathError::Certificate(e.to_string()))?;
    Ok(ClientConnection::new(client_config(&setup.roots, identity, versions)?, name)?)
}

/// Moves what the server has for the upstream there, and the upstream's answer back.
/// Hands bytes from the server side to the rustls client, collecting the plaintext it yields and
/// the first TLS error it reports.
fn feed_client(c: &mut ClientConnection, bytes: &[u8], response: &mut Vec<u8>, tls_error: &mut Option<String>) {
    let mut input = bytes;
    while !input.is_empty() {
        match c.read_tls(&mut input) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if let Err(e) = c.process_new_packets() {
                    tls_error.get_or_insert(e.to_string());
                    break;
                }
            }
        }
    }
    let mut plain = Vec::new();
    let _ = c.reader().read_to_end(&mut plain);
    response.extend_from_slice(&plain);
}

fn pump_upstream(conn: &mut Connection, vm: &mut FilterVm, upstream: &mut Vec<u8>) {
    let up = conn.take_to_upstream();
    if !up.is_empty() {
        upstream.extend_from_slice(&up);
        let reply = upstream_reply(upstream);
        conn.upstream_data(vm, &reply);
    }
}

/// Runs one connection from the client's first byte to the close.
pub fn exchange(
    listener: &Listener,
    vm: &mut FilterVm,
    meta: &ConnMeta,
    client: &Client,
    setup: &ClientSetup,
) -> Result<Exchange, DataPathError> {
    let started = Instant::now();
    let mut conn = Connection::new(listener, meta);
    let mut upstream = Vec::new();
    let mut response = Vec::new();
    let mut client_tls_error = None;
    match client {
        Client::Raw(bytes) => {
            conn.receive(vm, bytes);
            pump_upstream(&mut conn, vm, &mut upstream);
            conn.client_eof(vm);
            pump_upstream(&mut conn, vm, &mut upstream);
            response = conn.take_to_client();
        }
        Client::TruncatedHello => {
            let mut c = new_client(setup, None, rustls::DEFAULT_VERSIONS)?;
            let mut hello = Vec::new();
            while c.wants_write() {
                if c.write_tls(&mut hello).is_err() {
                    break;
                }
            }
            let half = hello.get(..hello.len() / 2).unwrap_or_default();
            conn.receive(vm, half);
            conn.client_eof(vm);
            let _ = conn.take_to_client();
        }
        Client::Tls(_) | Client::Tls12(_) => {
            let (identity, versions) = client.tls().unwrap_or((None, rustls::DEFAULT_VERSIONS));
            let mut c = new_client(setup, identity, versions)?;
            let mut sent = false;
            // Bounded: a handshake and one request/response take a handful of flights.
            for _ in 0..32 {
                let mut out = Vec::new();
                while c.wants_write() {
                    if c.write_tls(&mut out).is_err() {
                        break;
                    }
                }
                if !out.is_empty() {
                    conn.receive(vm, &out);
                }
                pump_upstream(&mut conn, vm, &mut upstream);
                let back = conn.take_to_client();
                let mut progressed = !out.is_empty() || !back.is_empty();
                if !back.is_empty() {
                    feed_client(&mut c, &back, &mut response, &mut client_tls_error);
                }
                if client_tls_error.is_some() {
                    break;
                }
                if !c.is_handshaking() && !sent {
                    sent = true;
                    progressed = true;
                    let _ = c.writer().write_all(&setup.request);
                }
                if conn.is_closed() || !progressed {
                    break;
                }
            }
            if !conn.is_closed() {
                conn.client_eof(vm);
            }
            let rest = conn.take_to_client();
            if !rest.is_empty() && client_tls_error.is_none() {
                feed_client(&mut c, &rest, &mut response, &mut client_tls_error);
            }
        }
    }
    conn.finish(vm);
    Ok(Exchange {
        outcome: conn.outcome(),
        client_tls_error,
        response,
        upstream_received: upstream,
        duration: started.elapsed(),
    })
}
