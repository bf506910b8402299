//! `meshlock serve`: the browser playground over HTTP, its assets embedded in the binary
//! (host-runner/cli/build.rs copies `www/dist` in at build time).
//!
//! A small static file server on std: GET and HEAD only, one thread per connection, bounded
//! request heads and timeouts. The page does all the work in the browser; nothing the user
//! types is ever sent here (share links live in the URL fragment).

use anyhow::Context as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Serve the browser playground (built by scripts/build-web.sh, embedded at build time).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
}

/// `(url path, bytes)` of every file of `www/dist`.
pub type Assets = &'static [(&'static str, &'static [u8])];

/// The playground as it was when meshlock was built.
pub static ASSETS: Assets = include!(concat!(env!("OUT_DIR"), "/playground_assets.rs"));

const MAX_HEAD: usize = 16 * 1024;
const MAX_CONNECTIONS: usize = 64;
const MAX_REQUESTS_PER_CONNECTION: usize = 200;
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// What the page may do: its own scripts, wasm, workers and fetches, nothing from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
                   style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                   connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

pub fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    if !ASSETS.iter().any(|(p, _)| *p == "/index.html") {
        eprintln!(
            "meshlock: this meshlock was built without the playground.\n\
             Build it, then rebuild meshlock so that it embeds www/dist:\n\
             \n    scripts/build-web.sh\n    cargo build --release -p meshlock-cli\n"
        );
        return Ok(ExitCode::from(2));
    }
    let listener = TcpListener::bind(args.addr).with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr().context("cannot read the listening address")?;
    println!("meshlock: serving the playground at http://{local}/ (Ctrl-C to stop)");
    std::io::stdout().flush().ok();
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let mut s = stream;
            let _ = s.write_all(&busy());
            continue;
        }
        let open = Arc::clone(&open);
        std::thread::spawn(move || {
            let _ = connection(stream, ASSETS);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(ExitCode::SUCCESS)
}

fn connection(stream: TcpStream, assets: Assets) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let (response, keep_alive) = match head {
            Ok(head) => {
                let keep = head.keep_alive;
                (respond(&head, assets), keep)
            }
            Err(status) => (error_response(status, "bad request\n"), false),
        };
        writer.write_all(&response)?;
        writer.flush()?;
        if !keep_alive {
            return Ok(());
        }
    }
    Ok(())
}

/// One parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub keep_alive: bool,
}

/// Reads a request head. `None`: the peer closed; `Some(Err(status))`: a bad request.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Result<Head, u16>>> {
    let mut raw = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader.by_ref().take((MAX_HEAD - raw.len()) as u64 + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(if raw.is_empty() { None } else { Some(Err(400)) });
        }
        raw.extend_from_slice(&line);
        if raw.len() > MAX_HEAD {
            return Ok(Some(Err(431)));
        }
        if line == b"\r\n" || line == b"\n" {
            if raw.len() == line.len() {
                // Tolerate blank lines before a request line (RFC 9112 §2.2).
                raw.clear();
                continue;
            }
            break;
        }
    }
    Ok(Some(parse_head(&String::from_utf8_lossy(&raw))))
}

pub fn parse_head(text: &str) -> Result<Head, u16> {
    let mut lines = text.lines();
    let request = lines.next().ok_or(400_u16)?;
    let mut parts = request.split_whitespace();
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(505);
    }
    let mut keep_alive = version == "HTTP/1.1";
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("connection")
        {
            let v = value.trim().to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    Ok(Head { method: method.to_owned(), path: path.to_owned(), keep_alive })
}

pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "yaml" | "yml" => "application/yaml",
        _ => "application/octet-stream",
    }
}

/// The full response to a request for `head.path`.
pub fn respond(head: &Head, assets: Assets) -> Vec<u8> {
    let get = head.method == "GET";
    if !get && head.method != "HEAD" {
        let mut r = error_response(405, "only GET and HEAD\n");
        insert_header(&mut r, "Allow: GET, HEAD");
        return r;
    }
    let path = if head.path == "/" { "/index.html" } else { head.path.as_str() };
    let Some((_, body)) = assets.iter().find(|(p, _)| *p == path) else {
        return error_response(404, "not found\n");
    };
    let cache = if path.starts_with("/assets/") {
        // Vite names these by content hash.
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: {cache}\r\n\
         X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
         Cross-Origin-Opener-Policy: same-origin\r\nContent-Security-Policy: {CSP}\r\n\r\n",
        content_type(path),
        body.len()
    )
    .into_bytes();
    if get {
        out.extend_from_slice(body);
    }
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

fn error_response(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         X-Content-Type-Options: nosniff\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

fn insert_header(response: &mut Vec<u8>, header: &str) {
    if let Some(at) = response.windows(2).position(|w| w == b"\r\n") {
        let tail = response.split_off(at + 2);
        response.extend_from_slice(header.as_bytes());
        response.extend_from_slice(b"\r\n");
        response.extend_from_slice(&tail);
    }
}

fn busy() -> Vec<u8> {
    let mut r = error_response(503, "too many connections\n");
    insert_header(&mut r, "Connection: close");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: Assets = &[("/index.html", b"<!doctype html>hi"), ("/assets/app-1234.wasm", b"\0asm")];

    fn text(r: &[u8]) -> String {
        String::from_utf8_lossy(r).into_owned()
    }

    fn get(path: &str) -> Head {
        Head { method: "GET".into(), path: path.into(), keep_alive: true }
    }

    #[test]
    fn root_serves_index_with_csp() {
        let r = text(&respond(&get("/"), SITE));
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert!(r.contains("Content-Length: 17\r\n"));
        assert!(r.contains("connect-src 'self'"));
        assert!(r.ends_with("\r\n\r\n<!doctype html>hi"));
    }

    #[test]
    fn wasm_has_its_content_type_and_is_cached() {
        let r = text(&respond(&get("/assets/app-1234.wasm"), SITE));
        assert!(r.contains("Content-Type: application/wasm\r\n"), "{r}");
        assert!(r.contains("immutable"));
    }

    #[test]
    fn head_has_no_body_and_unknown_is_404() {
        let mut h = get("/index.html");
        h.method = "HEAD".into();
        let r = text(&respond(&h, SITE));
        assert!(r.ends_with("\r\n\r\n"), "{r}");
        assert!(r.contains("Content-Length: 17"));
        let r = text(&respond(&get("/../etc/passwd"), SITE));
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    }

    #[test]
    fn post_is_refused() {
        let mut h = get("/");
        h.method = "POST".into();
        let r = text(&respond(&h, SITE));
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        assert!(r.contains("\r\nAllow: GET, HEAD\r\n"), "{r}");
    }

    #[test]
    fn parses_heads() {
        let h = parse_head("GET /assets/x.js?v=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(h.path, "/assets/x.js");
        assert!(h.keep_alive);
        let h = parse_head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let h = parse_head("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        assert_eq!(parse_head("GET /\r\n\r\n"), Err(400));
        assert_eq!(parse_head("GET / SPDY/3\r\n\r\n"), Err(505));
    }

    #[test]
    fn head_reader_bounds_and_eof() {
        let mut r = BufReader::new(&b"\r\nGET / HTTP/1.1\r\n\r\n"[..]);
        assert!(matches!(read_head(&mut r), Ok(Some(Ok(h))) if h.path == "/"));
        assert!(matches!(read_head(&mut r), Ok(None)));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let mut r = BufReader::new(big.as_bytes());
        assert!(matches!(read_head(&mut r), Ok(Some(Err(431)))));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("/a.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("/x"), "application/octet-stream");
    }
}
