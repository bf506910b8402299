//! Envoy's property bytes as the filter decodes them (`meshlock_filter::properties`), on
//! arbitrary values for each of the four properties an inbound decision reads: decoding never
//! panics, matches Envoy's encodings exactly, and a STRICT guard admits only what decodes as an
//! mTLS peer with a trusted SPIFFE ID.

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshlock_filter::config::Guard;
use meshlock_filter::properties::{InboundProperties, uri_san};
use std::sync::LazyLock;

/// foo/httpbin under namespace-wide STRICT (the suites' policies), configured once.
static STRICT: LazyLock<Guard> = LazyLock::new(|| {
    let policies = [
        include_str!("../../tests/suites/policies/workloads.yaml"),
        include_str!("../../tests/suites/policies/strict.yaml"),
    ]
    .join("\n---\n");
    let json = serde_json::json!({
        "direction": "inbound",
        "workload": {"namespace": "foo", "name": "httpbin"},
        "policies": policies,
    });
    Guard::configure(json.to_string().as_bytes(), None).expect("the suites' STRICT policy configures")
});

/// Splits the input into up to four values; a field is absent (the host has no such property)
/// when its presence bit in the first byte is clear.
fn split(data: &[u8]) -> InboundProperties {
    let (flags, mut rest) = match data.split_first() {
        Some((f, r)) => (*f, r),
        None => (0, data),
    };
    let mut fields: [Option<Vec<u8>>; 4] = Default::default();
    for (i, field) in fields.iter_mut().enumerate() {
        let (len, tail) = match rest.split_first() {
            Some((l, t)) => (usize::from(*l).min(t.len()), t),
            None => (0, rest),
        };
        let (value, tail) = tail.split_at(len);
        rest = tail;
        if flags & (1 << i) != 0 {
            *field = Some(value.to_vec());
        }
    }
    let [destination_port, mtls, tls_version, uri_san] = fields;
    InboundProperties { destination_port, mtls, tls_version, uri_san }
}

fuzz_target!(|data: &[u8]| {
    let raw = split(data);
    let port = raw.destination_port();
    let expected_port = raw
        .destination_port
        .as_deref()
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(i64::from_le_bytes)
        .filter(|v| (0..=i64::from(u16::MAX)).contains(v));
    assert_eq!(port.map(i64::from), expected_port);
    let peer = raw.peer();
    assert_eq!(peer.mtls, raw.mtls.as_deref() == Some(&[1u8][..]));
    assert_eq!(peer.tls, raw.tls_version.is_some());
    assert_eq!(peer.uri_san.map(str::as_bytes), raw.uri_san.as_deref().filter(|b| std::str::from_utf8(b).is_ok()));
    assert_eq!(peer.uri_san, uri_san(raw.uri_san.as_deref()));

    let verdict = raw.decide(&STRICT);
    if verdict.is_allow() {
        assert!(port.is_some() && peer.mtls, "admitted without a port or mTLS: {raw:?}");
        let san = peer.uri_san.unwrap_or_default();
        assert!(san.starts_with("spiffe://cluster.local/"), "admitted a foreign identity {san:?}");
    }
});
