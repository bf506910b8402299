//! A bounded HTTP/1.1 load generator: C concurrent connections over mTLS (rustls, client
//! certificate) or plaintext, keep-alive or one new connection per request, an optional PROXY
//! protocol header, stopped by a request count AND a wall-clock limit. Every latency is kept.
//!
//! Used by the Envoy benchmark and the load tests: wrk has no client certificates.

use crate::envoy::client::proxy_header;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How connections carry requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionMode {
    /// HTTP/1.1 keep-alive: a connection carries requests until the server closes it.
    KeepAlive,
    /// A new connection (and, over TLS, a new handshake) per request; the latency includes it.
    PerRequest,
}

/// What to send, where, how many and for how long.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub target: SocketAddr,
    /// The rustls client (with its client certificate); `None` sends plaintext HTTP.
    pub tls: Option<Arc<ClientConfig>>,
    /// SNI and the name the server certificate must carry.
    pub server_name: String,
    /// The `Host` header.
    pub authority: String,
    pub path: String,
    /// Send a PROXY v1 header naming this destination first (Envoy's proxy_protocol listener
    /// filter then reports it as `destination.port`).
    pub proxy_destination: Option<SocketAddr>,
    pub connections: usize,
    /// At most this many requests in all.
    pub max_requests: u64,
    /// No request starts after this much time has passed.
    pub max_duration: Duration,
    pub mode: ConnectionMode,
    /// Bound on each connect, handshake and exchange.
    pub io_timeout: Duration,
}

impl LoadSpec {
    /// Keep-alive plaintext `GET /` to `target`, 5 s I/O timeout; set `tls` for mTLS.
    pub fn new(target: SocketAddr, connections: usize, max_requests: u64, max_duration: Duration) -> Self {
        Self {
            target,
            tls: None,
            server_name: "localhost".to_owned(),
            authority: "localhost".to_owned(),
            path: "/".to_owned(),
            proxy_destination: None,
            connections,
            max_requests,
            max_duration,
            mode: ConnectionMode::KeepAlive,
            io_timeout: Duration::from_secs(5),
        }
    }

    /// The request bytes (`Connection: close` in per-request mode).
    pub fn request(&self) -> Vec<u8> {
        let close = if self.mode == ConnectionMode::PerRequest { "Connection: close\r\n" } else { "" };
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: meshlock-load\r\nAccept: */*\r\n{close}\r\n",
            self.path, self.authority
        )
        .into_bytes()
    }
}

/// What a run saw.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub elapsed: Duration,
    /// Latency of every response, nanoseconds, sorted.
    pub latencies_ns: Vec<u64>,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no response, by what went wrong.
    pub errors: BTreeMap<&'static str, u64>,
    /// Connections established (TCP connected, PROXY header sent, TLS handshake done).
    pub connections: u64,
}

impl LoadReport {
    /// Responses received (any status).
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Requests attempted: responses plus errors.
    pub fn attempted(&self) -> u64 {
        self.responses() + self.error_count()
    }

    /// Responses per second of wall-clock time.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.responses() as f64 / secs } else { 0.0 }
    }

    /// The `q`-quantile (0..=1) latency, nearest rank; zero without responses.
    pub fn percentile(&self, q: f64) -> Duration {
        Duration::from_nanos(nearest_rank(&self.latencies_ns, q))
    }

    /// Adds `other`'s counts and latencies (elapsed: the longer of the two).
    pub fn merge(&mut self, other: Self) {
        self.absorb(other);
        self.latencies_ns.sort_unstable();
    }

    /// [`merge`](Self::merge) without sorting: a run sorts once, after the last worker.
    fn absorb(&mut self, other: Self) {
        self.elapsed = self.elapsed.max(other.elapsed);
        self.latencies_ns.extend(other.latencies_ns);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_insert(0) += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
        self.connections += other.connections;
    }

    /// One line: counts, rate, percentiles, statuses, errors.
    pub fn summary(&self) -> String {
        let us = |q: f64| self.percentile(q).as_secs_f64() * 1e6;
        format!(
            "{} requests ({} responses, {} errors) on {} connections in {:.2} s: {:.0} req/s; \
             p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs; statuses {:?}; errors {:?}",
            self.attempted(),
            self.responses(),
            self.error_count(),
            self.connections,
            self.elapsed.as_secs_f64(),
            self.rps(),
            us(0.5),
            us(0.9),
            us(0.99),
            us(1.0),
            self.statuses,
            self.errors
        )
    }
}

/// Nearest-rank quantile of sorted values: the smallest value with at least `q` of them at or
/// below it.
pub fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied().unwrap_or(0)
}

/// The median of a few figures (not necessarily sorted); zero for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v.get(n / 2).copied().unwrap_or(0.0),
        n => (v.get(n / 2 - 1).copied().unwrap_or(0.0) + v.get(n / 2).copied().unwrap_or(0.0)) / 2.0,
    }
}

// === Response parsing ===

/// How the end of a response body is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    Length(usize),
    Chunked,
    /// Neither: the body ends when the server closes.
    Close,
}

/// A response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes of the head including the blank line.
    pub head_len: usize,
    pub body: BodyEnd,
    /// The server closes after this response (`Connection: close`, HTTP/1.0, or a body that
    /// runs to the close).
    pub close: bool,
}

/// `Ok(None)`: the head is not complete yet.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>, &'static str> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > 64 * 1024 { Err("malformed_response") } else { Ok(None) };
    };
    let text = std::str::from_utf8(buf.get(..end).unwrap_or_default()).map_err(|_| "malformed_response")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err("malformed_response");
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or("malformed_response")?;
    let mut length = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { return Err("malformed_response") };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>().map_err(|_| "malformed_response")?),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    // 1xx, 204 and 304 have no body.
    let body = match (status, chunked, length) {
        (100..=199 | 204 | 304, _, _) => BodyEnd::Length(0),
        (_, true, _) => BodyEnd::Chunked,
        (_, false, Some(n)) => BodyEnd::Length(n),
        (_, false, None) => BodyEnd::Close,
    };
    Ok(Some(ResponseHead { status, head_len: end + 4, body, close: close || body == BodyEnd::Close }))
}

/// The response in `buf` once it is complete, with its length in bytes; `at_eof`: the server
/// has closed (which completes a body that runs to the close).
pub fn complete_response(buf: &[u8], at_eof: bool) -> Result<Option<(ResponseHead, usize)>, &'static str> {
    let Some(head) = parse_response_head(buf)? else { return Ok(None) };
    let body = buf.get(head.head_len..).unwrap_or_default();
    let len = match head.body {
        BodyEnd::Length(n) => (body.len() >= n).then_some(head.head_len + n),
        // No trailers are expected: the last chunk and the blank line end it.
        BodyEnd::Chunked => {
            if body.starts_with(b"0\r\n\r\n") {
                Some(head.head_len + 5)
            } else {
                body.windows(7).position(|w| w == b"\r\n0\r\n\r\n").map(|p| head.head_len + p + 7)
            }
        }
        BodyEnd::Close => at_eof.then_some(buf.len()),
    };
    Ok(len.map(|l| (head, l)))
}

// === Connections ===

/// An established connection: plaintext, or rustls over TCP driven by hand (sans-I/O).
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsConn>),
}

struct TlsConn {
    sock: TcpStream,
    tls: ClientConnection,
    raw: Vec<u8>,
    out: Vec<u8>,
}

/// The error kind of an I/O error: a TLS alert from the server, else `otherwise`.
fn kind_of(e: &std::io::Error, otherwise: &'static str) -> &'static str {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::AlertReceived(_)) => "tls_alert",
        Some(_) => "tls",
        None if e.kind() == ErrorKind::ConnectionReset => "reset",
        None => otherwise,
    }
}

impl TlsConn {
    async fn flush(&mut self) -> std::io::Result<()> {
        while self.tls.wants_write() {
            self.out.clear();
            self.tls.write_tls(&mut self.out)?;
            self.sock.write_all(&self.out).await?;
        }
        Ok(())
    }

    /// Reads TLS bytes from the socket into rustls; false at EOF.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let n = self.sock.read(&mut self.raw).await?;
        let mut input = self.raw.get(..n).unwrap_or_default();
        if n == 0 {
            // Tells rustls the peer is gone (a later plaintext read reports it).
            self.tls.read_tls(&mut input)?;
            return Ok(false);
        }
        while !input.is_empty() {
            self.tls.read_tls(&mut input)?;
            self.tls.process_new_packets().map_err(std::io::Error::other)?;
        }
        Ok(true)
    }

    async fn handshake(&mut self) -> std::io::Result<()> {
        while self.tls.is_handshaking() {
            self.flush().await?;
            if self.tls.is_handshaking() && self.tls.wants_read() && !self.fill().await? {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
        self.flush().await
    }
}

impl Conn {
    async fn open(spec: &LoadSpec, name: Option<&ServerName<'static>>) -> Result<Self, &'static str> {
        let mut sock = TcpStream::connect(spec.target).await.map_err(|e| kind_of(&e, "connect"))?;
        let _ = sock.set_nodelay(true);
        if let Some(dest) = spec.proxy_destination {
            let source = sock.local_addr().map_err(|_| "connect")?;
            sock.write_all(proxy_header(source, dest).as_bytes()).await.map_err(|e| kind_of(&e, "proxy_header"))?;
        }
        let (Some(config), Some(name)) = (&spec.tls, name) else { return Ok(Self::Plain(sock)) };
        let tls = ClientConnection::new(Arc::clone(config), name.clone()).map_err(|_| "tls")?;
        let mut c = TlsConn { sock, tls, raw: vec![0; 32 * 1024], out: Vec::new() };
        c.handshake().await.map_err(|e| kind_of(&e, "handshake"))?;
        Ok(Self::Tls(Box::new(c)))
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.write_all(bytes).await,
            Self::Tls(c) => {
                c.tls.writer().write_all(bytes)?;
                c.flush().await
            }
        }
    }

    /// Appends what arrives to `buf`; 0 at the end of the stream.
    async fn receive(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => {
                let before = buf.len();
                buf.reserve(16 * 1024);
                s.read_buf(buf).await?;
                Ok(buf.len() - before)
            }
            Self::Tls(c) => loop {
                let before = buf.len();
                let r = c.tls.reader().read_to_end(buf);
                let got = buf.len() - before;
                match r {
                    // A close_notify: the stream ended cleanly (after `got` last bytes).
                    Ok(_) => return Ok(got),
                    Err(_) if got > 0 => return Ok(got),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    // Closed without close_notify: the end of the stream all the same.
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                c.flush().await?;
                // At EOF rustls reports the end (with or without close_notify) on the next read.
                c.fill().await?;
            },
        }
    }

    /// Sends `request` and reads one response into `buf` (cleared first).
    async fn exchange(&mut self, request: &[u8], buf: &mut Vec<u8>) -> Result<ResponseHead, &'static str> {
        buf.clear();
        self.send(request).await.map_err(|e| kind_of(&e, "write"))?;
        loop {
            if let Some((head, _)) = complete_response(buf, false)? {
                return Ok(head);
            }
            let n = self.receive(buf).await.map_err(|e| kind_of(&e, "read"))?;
            if n == 0 {
                return complete_response(buf, true)?.map(|(h, _)| h).ok_or(if buf.is_empty() {
                    "closed_before_response"
                } else {
                    "truncated_response"
                });
            }
        }
    }
}

// === Runs ===

/// Claims one of `max` request slots.
fn claim(next: &AtomicU64, max: u64) -> bool {
    next.fetch_add(1, Ordering::Relaxed) < max
}

async fn worker(spec: Arc<LoadSpec>, next: Arc<AtomicU64>, started: Instant) -> LoadReport {
    let mut report = LoadReport::default();
    let name = ServerName::try_from(spec.server_name.clone()).ok();
    let request = spec.request();
    let mut buf = Vec::with_capacity(4096);
    let mut conn: Option<Conn> = None;
    let bound = spec.io_timeout;
    while started.elapsed() < spec.max_duration && claim(&next, spec.max_requests) {
        let t0 = Instant::now();
        let mut c = match conn.take() {
            Some(c) => c,
            None => match tokio::time::timeout(bound, Conn::open(&spec, name.as_ref())).await {
                Ok(Ok(c)) => {
                    report.connections += 1;
                    c
                }
                Ok(Err(kind)) => {
                    *report.errors.entry(kind).or_insert(0) += 1;
                    continue;
                }
                Err(_) => {
                    *report.errors.entry("timeout").or_insert(0) += 1;
                    continue;
                }
            },
        };
        // Keep-alive: the request's own round trip; per request: connect and handshake too.
        let t1 = if spec.mode == ConnectionMode::KeepAlive { Instant::now() } else { t0 };
        match tokio::time::timeout(bound, c.exchange(&request, &mut buf)).await {
            Ok(Ok(head)) => {
                let ns = u64::try_from(t1.elapsed().as_nanos()).unwrap_or(u64::MAX);
                report.latencies_ns.push(ns);
                *report.statuses.entry(head.status).or_insert(0) += 1;
                if !head.close && spec.mode == ConnectionMode::KeepAlive {
                    conn = Some(c);
                }
            }
            Ok(Err(kind)) => *report.errors.entry(kind).or_insert(0) += 1,
            Err(_) => *report.errors.entry("timeout").or_insert(0) += 1,
        }
    }
    report
}

/// Runs `spec` on the current tokio runtime: `connections` tasks share the request budget.
pub async fn run(spec: &LoadSpec) -> LoadReport {
    let spec = Arc::new(spec.clone());
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..spec.connections.max(1) {
        tasks.spawn(worker(Arc::clone(&spec), Arc::clone(&next), started));
    }
    let mut reports = Vec::with_capacity(spec.connections);
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(r) => reports.push(r),
            Err(_) => failed += 1,
        }
    }
    // The load ends with its last worker; merging and sorting are not part of it.
    let elapsed = started.elapsed();
    let mut report = LoadReport::default();
    for r in reports {
        report.absorb(r);
    }
    report.latencies_ns.sort_unstable();
    report.elapsed = elapsed;
    if failed > 0 {
        report.errors.insert("worker_failed", failed);
    }
    report
}

/// Runs `spec` on a fresh single-threaded runtime (the load uses one core).
pub fn run_blocking(spec: &LoadSpec) -> std::io::Result<LoadReport> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(run(spec)))
}

#[cfg(test)]
mod tests;
