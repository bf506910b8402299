//! Envoy 1.40's property bytes → the facts a decision needs (docs/envoy.md, "Properties read").
//!
//! Pure and compiled natively, so unit tests and the `filter_properties` fuzz target exercise the
//! exact decoding the wasm glue (`proxy`) runs on what the host returns. Nothing here can panic
//! on host data: any length, any bytes.

use crate::config::{Guard, Verdict};
use meshlock_core::enforce::PeerFacts;

/// The raw values of the connection properties an inbound decision reads; `None` when the host
/// has no such property on this connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundProperties {
    /// `destination.port`
    pub destination_port: Option<Vec<u8>>,
    /// `connection.mtls`
    pub mtls: Option<Vec<u8>>,
    /// `connection.tls_version`
    pub tls_version: Option<Vec<u8>>,
    /// `connection.uri_san_peer_certificate`
    pub uri_san: Option<Vec<u8>>,
}

impl InboundProperties {
    /// `destination.port`: an int64, 8 bytes little-endian; anything else, or a value outside
    /// 0..=65535, is no port (the guard then refuses: fail closed).
    pub fn destination_port(&self) -> Option<u16> {
        let bytes: [u8; 8] = self.destination_port.as_deref()?.try_into().ok()?;
        u16::try_from(i64::from_le_bytes(bytes)).ok()
    }

    pub fn peer(&self) -> PeerFacts<'_> {
        PeerFacts {
            // `connection.tls_version` exists only on TLS connections (read it only after the
            // handshake: pitfall P3).
            tls: self.tls_version.is_some(),
            // One byte, 1 when a client certificate was presented and verified. Exactly that
            // one byte: a longer value is not Envoy's bool encoding, so it is not mTLS.
            mtls: self.mtls.as_deref() == Some(&[1]),
            uri_san: uri_san(self.uri_san.as_deref()),
        }
    }

    /// Decides one inbound connection or request.
    pub fn decide(&self, guard: &Guard) -> Verdict {
        guard.decide_inbound(self.destination_port(), &self.peer())
    }
}

/// A `…uri_san_peer_certificate` value: the first URI SAN only, raw UTF-8 (pitfall P4). Bytes
/// that are not UTF-8 are no identity, never a lossy one.
pub fn uri_san(raw: Option<&[u8]>) -> Option<&str> {
    raw.and_then(|b| std::str::from_utf8(b).ok())
}

#[cfg(test)]
mod tests;
