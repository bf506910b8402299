//! The suite's client forms over a real TCP connection to Envoy, with a rustls client, and
//! what the client saw.

use super::EnvoyError;
use crate::datapath::DataPathError;
use crate::datapath::memory::{Client, client_config};
use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// What the client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The TLS handshake failed (an alert, or the server went away mid-handshake).
    HandshakeFailed(String),
    /// An HTTP response with this status.
    Status(u16),
    /// Some bytes that are not an HTTP response (a non-HTTP upstream answer).
    Data(usize),
    /// The connection was closed or reset without a response.
    Closed(String),
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HandshakeFailed(e) => write!(f, "handshake failed: {e}"),
            Self::Status(s) => write!(f, "HTTP {s}"),
            Self::Data(n) => write!(f, "{n} bytes"),
            Self::Closed(how) => write!(f, "{how}"),
        }
    }
}

/// How long a case may wait for Envoy at each step.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A PROXY protocol v1 header: the connection is for `destination` (the workload port).
pub fn proxy_header(source: SocketAddr, destination: SocketAddr) -> String {
    format!("PROXY TCP4 {} {} {} {}\r\n", source.ip(), destination.ip(), source.port(), destination.port())
}

/// `GET /` with `Connection: close`, so Envoy closes after the response.
pub fn request(authority: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: meshlock-test\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.trim().parse().ok()
}

fn seen_from(bytes: &[u8], end: Option<String>) -> Seen {
    match status_of(bytes) {
        Some(s) => Seen::Status(s),
        None if !bytes.is_empty() => Seen::Data(bytes.len()),
        None => Seen::Closed(end.unwrap_or_else(|| "closed".to_owned())),
    }
}

/// Whether `buf` holds a whole HTTP response (head and a `content-length` body): no need to
/// wait for Envoy's (delayed) close.
fn complete_response(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).to_ascii_lowercase();
    let length =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|n| buf.len() >= end + 4 + n)
}

fn read_all(s: &mut TcpStream) -> (Vec<u8>, Option<String>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (buf, None),
            Ok(n) => {
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if complete_response(&buf) {
                    return (buf, None);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (buf, Some("reset".to_owned())),
            Err(e) => return (buf, Some(e.to_string())),
        }
    }
}

/// Connects to `listener`, sends the PROXY header for `destination`, then runs `client`.
pub fn drive(
    listener: SocketAddr,
    destination: SocketAddr,
    client: &Client,
    roots: &[Vec<u8>],
    server_name: &str,
    authority: &str,
) -> Result<Seen, EnvoyError> {
    let mut s = TcpStream::connect_timeout(&listener, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    let source = s.local_addr()?;
    s.write_all(proxy_header(source, destination).as_bytes())?;
    match client {
        Client::Raw(bytes) => {
            let bytes = if bytes.is_empty() { request(authority) } else { bytes.clone() };
            s.write_all(&bytes)?;
            let (got, end) = read_all(&mut s);
            Ok(seen_from(&got, end))
        }
        Client::TruncatedHello => {
            let name =
                ServerName::try_from(server_name.to_owned()).map_err(|e| DataPathError::Certificate(e.to_string()))?;
            let mut c = ClientConnection::new(client_config(roots, None, rustls::DEFAULT_VERSIONS)?, name)?;
            let mut hello = Vec::new();
            while c.wants_write() {
                if c.write_tls(&mut hello).is_err() {
                    break;
                }
            }
            s.write_all(hello.get(..hello.len() / 2).unwrap_or_default())?;
            let _ = s.shutdown(Shutdown::Write);
            let (got, end) = read_all(&mut s);
            // No ServerHello can come back: the handshake never completes.
            Ok(if got.is_empty() {
                Seen::HandshakeFailed(format!(
                    "connection {} after half a ClientHello",
                    end.as_deref().unwrap_or("closed")
                ))
            } else {
                seen_from(&got, end)
            })
        }
        Client::Tls(_) | Client::Tls12(_) => {
            let (identity, versions) = client.tls().unwrap_or((None, rustls::DEFAULT_VERSIONS));
            let name =
                ServerName::try_from(server_name.to_owned()).map_err(|e| DataPathError::Certificate(e.to_string()))?;
            let mut c = ClientConnection::new(client_config(roots, identity, versions)?, name)?;
            while c.is_handshaking() {
                if let Err(e) = c.complete_io(&mut s) {
                    return Ok(Seen::HandshakeFailed(e.to_string()));
                }
            }
            let mut tls = rustls::Stream::new(&mut c, &mut s);
            if let Err(e) = tls.write_all(&request(authority)).and_then(|()| tls.flush()) {
                // TLS 1.3: the client's handshake is over once its flight is sent; a server that
                // refused that flight (e.g. a certificate list too large to read) has closed the
                // socket before any application data, so no filter saw the connection.
                return Ok(tls_failure(&e).unwrap_or_else(|| {
                    Seen::HandshakeFailed(format!("the server closed during the handshake ({e})"))
                }));
            }
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                match tls.read(&mut chunk) {
                    Ok(0) => return Ok(seen_from(&got, None)),
                    Ok(n) => {
                        got.extend_from_slice(chunk.get(..n).unwrap_or_default());
                        if complete_response(&got) {
                            return Ok(seen_from(&got, None));
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        // TLS 1.3: a client certificate the server rejects shows as an alert
                        // after the client's Finished, on the first read.
                        if got.is_empty()
                            && let Some(h) = tls_failure(&e)
                        {
                            return Ok(h);
                        }
                        let how =
                            if e.kind() == ErrorKind::ConnectionReset { "reset".to_owned() } else { e.to_string() };
                        return Ok(seen_from(&got, Some(how)));
                    }
                }
            }
        }
    }
}

/// A rustls error carried in an io::Error that means the handshake failed (a fatal alert).
fn tls_failure(e: &std::io::Error) -> Option<Seen> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    match inner {
        rustls::Error::AlertReceived(a) => Some(Seen::HandshakeFailed(format!("received fatal alert: {a:?}"))),
        rustls::Error::InvalidCertificate(_) => Some(Seen::HandshakeFailed(inner.to_string())),
        _ => None,
    }
}
