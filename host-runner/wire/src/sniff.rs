//! The first bytes of a downstream connection: TLS or not, as Envoy's `tls_inspector` decides.

/// tls_inspector's test: a handshake record (0x16), major version 3, handshake type
/// ClientHello (1). `None`: not enough bytes to tell.
pub fn sniff(buf: &[u8]) -> Option<bool> {
    let expect = [(0usize, 0x16u8), (1, 0x03), (5, 0x01)];
    for (at, want) in expect {
        match buf.get(at) {
            None => return None,
            Some(b) if *b != want => return Some(false),
            Some(_) => {}
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_like_tls_inspector() {
        assert_eq!(sniff(&[]), None);
        assert_eq!(sniff(&[0x16, 0x03, 0x01]), None);
        assert_eq!(sniff(&[0x16, 0x03, 0x01, 0x00, 0x10, 0x01]), Some(true));
        assert_eq!(sniff(&[0x16, 0x03, 0x01, 0x00, 0x10, 0x02]), Some(false));
        assert_eq!(sniff(b"GET / HTTP/1.1"), Some(false));
        assert_eq!(sniff(&[0x16, 0x02]), Some(false));
    }
}
