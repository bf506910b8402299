use super::*;

/// foo/httpbin under a namespace-wide STRICT PeerAuthentication (the suites' policies).
fn strict_guard() -> Guard {
    let policies = [
        include_str!("../../../tests/suites/policies/workloads.yaml"),
        include_str!("../../../tests/suites/policies/strict.yaml"),
    ]
    .join("\n---\n");
    let json = serde_json::json!({
        "direction": "inbound",
        "workload": {"namespace": "foo", "name": "httpbin"},
        "policies": policies,
    });
    Guard::configure(json.to_string().as_bytes(), None).unwrap()
}

const SAN: &str = "spiffe://cluster.local/ns/bar/sa/sleep";

/// What Envoy 1.40 gives on an mTLS connection to port 80 (docs/envoy.md, "Properties read").
fn envoy_mtls() -> InboundProperties {
    InboundProperties {
        destination_port: Some(80i64.to_le_bytes().to_vec()),
        mtls: Some(vec![1]),
        tls_version: Some(b"TLSv1.3".to_vec()),
        uri_san: Some(SAN.as_bytes().to_vec()),
    }
}

#[test]
fn destination_port_is_an_eight_byte_little_endian_int64() {
    let port =
        |raw: Option<Vec<u8>>| InboundProperties { destination_port: raw, ..Default::default() }.destination_port();
    assert_eq!(port(Some(vec![0x10, 0x27, 0, 0, 0, 0, 0, 0])), Some(10000));
    assert_eq!(port(Some(65535i64.to_le_bytes().to_vec())), Some(65535));
    assert_eq!(port(Some(0i64.to_le_bytes().to_vec())), Some(0));
    assert_eq!(port(Some(65536i64.to_le_bytes().to_vec())), None);
    assert_eq!(port(Some((-1i64).to_le_bytes().to_vec())), None);
    // A 4-byte or 9-byte value is not Envoy's encoding: no port, not a guess.
    assert_eq!(port(Some(vec![0x50, 0, 0, 0])), None);
    assert_eq!(port(Some(vec![0x50, 0, 0, 0, 0, 0, 0, 0, 0])), None);
    assert_eq!(port(Some(Vec::new())), None);
    assert_eq!(port(None), None);
}

#[test]
fn peer_facts_from_envoy_encodings() {
    let p = envoy_mtls();
    let peer = p.peer();
    assert!(peer.tls && peer.mtls);
    assert_eq!(peer.uri_san, Some(SAN));

    let plaintext = InboundProperties { destination_port: p.destination_port.clone(), ..Default::default() };
    let peer = plaintext.peer();
    assert!(!peer.tls && !peer.mtls);
    assert_eq!(peer.uri_san, None);

    // `connection.mtls` is one byte; 0, an empty value or a longer one is not mTLS.
    for raw in [vec![0], vec![], vec![1, 0], vec![2]] {
        let p = InboundProperties { mtls: Some(raw.clone()), ..envoy_mtls() };
        assert!(!p.peer().mtls, "{raw:?}");
    }
    // Any tls_version value, even an empty one, means TLS: presence is the signal.
    let p = InboundProperties { tls_version: Some(Vec::new()), ..envoy_mtls() };
    assert!(p.peer().tls);
}

#[test]
fn a_uri_san_that_is_not_utf8_is_no_identity() {
    assert_eq!(uri_san(Some(b"spiffe://cluster.local/ns/bar/sa/\xff")), None);
    assert_eq!(uri_san(Some(b"")), Some(""));
    assert_eq!(uri_san(None), None);
    let p = InboundProperties { uri_san: Some(b"spiffe://cluster.local/ns/bar/sa/sleep\xc3".to_vec()), ..envoy_mtls() };
    assert_eq!(p.peer().uri_san, None);
}

#[test]
fn decisions_from_raw_properties() {
    let guard = strict_guard();
    let verdict = |p: &InboundProperties| (p.decide(&guard).verdict(), p.decide(&guard).reason());
    assert_eq!(verdict(&envoy_mtls()), ("allow", "mtls_peer"));
    let plaintext = InboundProperties { destination_port: Some(80i64.to_le_bytes().to_vec()), ..Default::default() };
    assert_eq!(verdict(&plaintext), ("deny", "plaintext"));
    let no_port = InboundProperties { destination_port: None, ..envoy_mtls() };
    assert_eq!(verdict(&no_port), ("deny", "no_destination_port"));
    let bad_san = InboundProperties { uri_san: Some(vec![0xff; 8]), ..envoy_mtls() };
    assert_eq!(verdict(&bad_san), ("deny", "no_spiffe_id"));
}
