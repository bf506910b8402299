use super::*;

#[test]
fn nearest_rank_picks_the_smallest_value_covering_the_quantile() {
    let v: Vec<u64> = (1..=100).collect();
    assert_eq!(nearest_rank(&v, 0.5), 50);
    assert_eq!(nearest_rank(&v, 0.9), 90);
    assert_eq!(nearest_rank(&v, 0.99), 99);
    assert_eq!(nearest_rank(&v, 1.0), 100);
    assert_eq!(nearest_rank(&v, 0.0), 1);
    assert_eq!(nearest_rank(&[7], 0.99), 7);
    assert_eq!(nearest_rank(&[], 0.5), 0);
    // Out-of-range quantiles are clamped, not indexed.
    assert_eq!(nearest_rank(&v, 2.0), 100);
    assert_eq!(nearest_rank(&v, -1.0), 1);
}

#[test]
fn median_of_odd_and_even_counts_ignores_order() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    assert_eq!(median(&[]), 0.0);
    assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
}

#[test]
fn a_content_length_response_completes_at_its_length() {
    let r = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhel";
    assert_eq!(complete_response(r, false), Ok(None));
    let mut full = r.to_vec();
    full.extend_from_slice(b"lo");
    let (head, len) = complete_response(&full, false).unwrap().unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.body, BodyEnd::Length(5));
    assert!(!head.close);
    assert_eq!(len, full.len());
}

#[test]
fn connection_close_and_http10_mark_the_connection_done() {
    let r = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let (head, _) = complete_response(r, false).unwrap().unwrap();
    assert_eq!((head.status, head.close), (403, true));
    let r = b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n";
    assert!(complete_response(r, false).unwrap().unwrap().0.close);
}

#[test]
fn a_body_without_length_runs_to_the_close() {
    let r = b"HTTP/1.1 200 OK\r\n\r\nsome bytes";
    assert_eq!(complete_response(r, false), Ok(None));
    let (head, len) = complete_response(r, true).unwrap().unwrap();
    assert_eq!((head.body, head.close, len), (BodyEnd::Close, true, r.len()));
}

#[test]
fn a_chunked_body_ends_at_the_last_chunk() {
    let part = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";
    assert_eq!(complete_response(part, false), Ok(None));
    let mut full = part.to_vec();
    full.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(complete_response(&full, false).unwrap().unwrap().1, full.len());
    let empty = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(complete_response(empty, false).unwrap().unwrap().1, empty.len());
}

#[test]
fn no_content_statuses_have_no_body() {
    let r = b"HTTP/1.1 204 No Content\r\n\r\n";
    let (head, len) = complete_response(r, false).unwrap().unwrap();
    assert_eq!((head.body, len), (BodyEnd::Length(0), r.len()));
}

#[test]
fn what_is_not_an_http_response_is_malformed() {
    assert_eq!(parse_response_head(b"SSH-2.0-x\r\n\r\n"), Err("malformed_response"));
    assert_eq!(parse_response_head(b"HTTP/1.1 abc\r\n\r\n"), Err("malformed_response"));
    assert_eq!(parse_response_head(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), Err("malformed_response"));
    assert_eq!(parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n"), Err("malformed_response"));
    assert_eq!(parse_response_head(&vec![b'a'; 70 * 1024]), Err("malformed_response"));
    assert_eq!(parse_response_head(b"HTTP/1.1 200 OK\r\n"), Ok(None));
}

#[test]
fn the_request_asks_to_close_only_in_per_request_mode() {
    let mut spec = LoadSpec::new(SocketAddr::from(([127, 0, 0, 1], 1)), 1, 1, Duration::from_secs(1));
    spec.authority = "localhost:80".to_owned();
    let keep = String::from_utf8(spec.request()).unwrap();
    assert!(keep.starts_with("GET / HTTP/1.1\r\nHost: localhost:80\r\n"), "{keep}");
    assert!(keep.ends_with("\r\n\r\n") && !keep.contains("Connection: close"), "{keep}");
    spec.mode = ConnectionMode::PerRequest;
    assert!(String::from_utf8(spec.request()).unwrap().contains("Connection: close\r\n"));
}

#[test]
fn the_request_budget_is_shared_and_bounded() {
    let next = AtomicU64::new(0);
    let claimed = (0..10).filter(|_| claim(&next, 3)).count();
    assert_eq!(claimed, 3);
}

#[test]
fn reports_merge_counts_and_keep_latencies_sorted() {
    let mut a = LoadReport {
        elapsed: Duration::from_secs(1),
        latencies_ns: vec![10, 30],
        statuses: BTreeMap::from([(200, 2)]),
        errors: BTreeMap::new(),
        connections: 1,
    };
    let b = LoadReport {
        elapsed: Duration::from_secs(2),
        latencies_ns: vec![20],
        statuses: BTreeMap::from([(200, 1), (403, 1)]),
        errors: BTreeMap::from([("reset", 1)]),
        connections: 2,
    };
    a.merge(b);
    assert_eq!(a.latencies_ns, vec![10, 20, 30]);
    assert_eq!(a.statuses, BTreeMap::from([(200, 3), (403, 1)]));
    assert_eq!((a.responses(), a.error_count(), a.attempted(), a.connections), (4, 1, 5, 3));
    assert_eq!(a.elapsed, Duration::from_secs(2));
    assert_eq!(a.rps(), 2.0);
    assert_eq!(a.percentile(0.5), Duration::from_nanos(20));
    assert!(a.summary().starts_with("5 requests (4 responses, 1 errors) on 3 connections"), "{}", a.summary());
}

/// A plaintext keep-alive run against a loopback server that answers every request: the
/// whole path (connect, send, parse, reuse) without TLS.
#[test]
fn a_bounded_run_against_a_loopback_server_counts_every_request() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    let spec = LoadSpec::new(addr, 4, 200, Duration::from_secs(60));
    let report = run_blocking(&spec).unwrap();
    assert_eq!(report.statuses, BTreeMap::from([(200, 200)]), "{}", report.summary());
    assert_eq!(report.error_count(), 0, "{}", report.summary());
    assert_eq!(report.connections, 4, "keep-alive: one connection per worker");
    assert_eq!(report.latencies_ns.len(), 200);
    assert!(report.latencies_ns.windows(2).all(|w| w[0] <= w[1]));
}
