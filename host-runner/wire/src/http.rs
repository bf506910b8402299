//! Just enough HTTP/1.1 for the HTTP filter path: the request head (Envoy's codec would parse
//! it before any HTTP filter runs) and local replies.
//!
//! std only, like the rest of this crate: the `host_sniff_http` fuzz target depends on it.

/// A parsed request line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    pub version: String,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Bytes of the head including the blank line.
    pub len: usize,
}

impl RequestHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether a body follows the head.
    pub fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some() || self.header("content-length").is_some_and(|v| v.trim() != "0")
    }

    /// The header map the HTTP filter sees: HTTP/2-style pseudo-headers first, as Envoy's
    /// codec builds them (`host` becomes `:authority`).
    pub fn filter_headers(&self, tls: bool) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![
            (":authority".to_owned(), self.header("host").unwrap_or_default().as_bytes().to_vec()),
            (":path".to_owned(), self.target.as_bytes().to_vec()),
            (":method".to_owned(), self.method.as_bytes().to_vec()),
            (":scheme".to_owned(), if tls { b"https".to_vec() } else { b"http".to_vec() }),
        ];
        for (k, v) in &self.headers {
            if k != "host" {
                out.push((k.clone(), v.as_bytes().to_vec()));
            }
        }
        out.push(("x-forwarded-proto".to_owned(), if tls { b"https".to_vec() } else { b"http".to_vec() }));
        out
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `Ok(None)`: the head is not complete yet.
pub fn parse_request_head(buf: &[u8], max: usize) -> Result<Option<RequestHead>, &'static str> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > max {
            return Err("request head too large");
        }
        // Reject early what can never become a request line.
        if let Some(first) = buf.first()
            && !first.is_ascii_uppercase()
        {
            return Err("invalid request line");
        }
        return Ok(None);
    };
    let head = buf.get(..end).ok_or("invalid request head")?;
    let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or("empty request")?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("invalid request line");
    };
    if !is_token(method) || target.is_empty() || !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err("invalid request line");
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or("invalid header line")?;
        if !is_token(name) {
            return Err("invalid header name");
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Some(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
        len: end.saturating_add(4),
    }))
}

/// A parsed response head: status, headers (names lower-cased), head length.
pub type ResponseHead = (u16, Vec<(String, String)>, usize);

/// `Ok(None)`: the response head is not complete yet.
pub fn parse_response_head(buf: &[u8], max: usize) -> Result<Option<ResponseHead>, &'static str> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > max { Err("response head too large") } else { Ok(None) };
    };
    let head = buf.get(..end).ok_or("invalid response head")?;
    let text = std::str::from_utf8(head).map_err(|_| "response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err("invalid status line");
    };
    if !version.starts_with("HTTP/1.") {
        return Err("invalid status line");
    }
    let status: u16 = code.parse().map_err(|_| "invalid status code")?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or("invalid header line")?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Some((status, headers, end.saturating_add(4))))
}

fn reason_phrase(status: u32) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// An HTTP/1.1 response for a local reply; the connection closes after it.
pub fn serialize_response(status: u32, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n",
        reason_phrase(status),
        body.len()
    );
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let req = b"GET /x HTTP/1.1\r\nHost: a.b:80\r\nUser-Agent: curl\r\n\r\nrest";
        let h = parse_request_head(req, 1024).unwrap().unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.len, req.len() - 4);
        assert!(!h.has_body());
        let hs = h.filter_headers(true);
        assert_eq!(hs[0], (":authority".to_owned(), b"a.b:80".to_vec()));
        assert!(hs.contains(&("user-agent".to_owned(), b"curl".to_vec())));
        assert_eq!(parse_request_head(b"GET / HT", 1024), Ok(None));
        assert!(parse_request_head(b"\x00\x01garbage\r\n\r\n", 1024).is_err());
        assert!(parse_request_head(b"\x00\x01", 1024).is_err());
        assert!(parse_request_head(b"GET / SPDY/3\r\n\r\n", 1024).is_err());
        let (status, headers, len) =
            parse_response_head(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody", 1024).unwrap().unwrap();
        assert_eq!((status, len), (200, 30));
        assert_eq!(headers, vec![("server".to_owned(), "x".to_owned())]);
        assert_eq!(parse_response_head(b"HTTP/1.1 200", 1024), Ok(None));
        assert!(parse_response_head(b"garbage\r\n\r\n", 1024).is_err());
    }
}
