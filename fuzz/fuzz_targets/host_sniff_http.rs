//! The host's first-bytes sniffing and HTTP/1.1 head parsing on arbitrary bytes: never panic,
//! agree with `tls_inspector`'s three-byte test, and return head lengths inside the buffer.

#![forbid(unsafe_code)]
#![no_main]

// Through meshlock-wire, which is std only: the test bed links wasmtime, and an ASan build of
// wasmtime takes many minutes on a 2-core machine.
use libfuzzer_sys::fuzz_target;
use meshlock_wire::{http, sniff};

/// Small enough that the fuzzer also reaches the "too large" branches.
const MAX_HEAD: usize = 512;

fuzz_target!(|data: &[u8]| {
    match sniff::sniff(data) {
        None => assert!(data.len() < 6 && data.first().is_none_or(|b| *b == 0x16)),
        Some(is_tls) => {
            assert_eq!(is_tls, data.first() == Some(&0x16) && data.get(1) == Some(&3) && data.get(5) == Some(&1))
        }
    }

    if let Ok(Some(head)) = http::parse_request_head(data, MAX_HEAD) {
        assert!(head.len <= data.len(), "head length {} beyond {} bytes", head.len, data.len());
        let _ = head.has_body();
        let headers = head.filter_headers(data.len() % 2 == 0);
        assert_eq!(headers.first().map(|(k, _)| k.as_str()), Some(":authority"));
    }
    if let Ok(Some((status, headers, len))) = http::parse_response_head(data, MAX_HEAD) {
        assert!(len <= data.len());
        // A local reply built from what was parsed must itself parse back to the same status.
        let body = data.get(len..).unwrap_or_default();
        let reply = http::serialize_response(u32::from(status), &[], body);
        let again = http::parse_response_head(&reply, reply.len());
        assert_eq!(again.ok().flatten().map(|(s, _, _)| s), Some(status));
        let _ = headers;
    }
});
