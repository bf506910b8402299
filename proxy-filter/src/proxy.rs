//! The proxy-wasm 0.2.5 glue: Envoy's properties in, continue / local reply / close out.
//!
//! Host calls go through `proxy_wasm::hostcalls` and their errors are handled here: the SDK's
//! `Context` helpers `unwrap()` host results, and a trap in a shared VM takes every plugin in it
//! down (docs/envoy.md, pitfall P5). Nothing in this module can panic on host data.

use crate::config::{ConfigError, Enforcement, FilterKind, Guard, Verdict};
use crate::properties::{self, InboundProperties};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

mod entry {
    proxy_wasm::main! {{
        // Installs the SDK's logger and its panic hook (a panic is logged before the trap).
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
        proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(super::Root::default())
        });
    }}
}

fn log(level: LogLevel, msg: &str) {
    // Nothing sensible to do if the host refuses a log line.
    let _ = hostcalls::log(level, msg);
}

/// Counters by decision and reason, defined on first use (`meshlock.decisions.allow.mtls_peer`);
/// looked up by the (verdict, reason) pair, so a request allocates nothing to count.
#[derive(Default)]
struct Metrics {
    ids: RefCell<BTreeMap<(&'static str, &'static str), u32>>,
}

impl Metrics {
    fn count(&self, verdict: &Verdict) {
        let key = (verdict.verdict(), verdict.reason());
        let known = self.ids.borrow().get(&key).copied();
        let id = match known {
            Some(id) => id,
            None => match hostcalls::define_metric(MetricType::Counter, &verdict.metric_name()) {
                Ok(id) => {
                    self.ids.borrow_mut().insert(key, id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// Inbound verdicts by Envoy's connection id. The peer certificate and the destination port
/// cannot change on a connection, so the requests of a keep-alive connection after the first
/// cost one property read instead of four and no decision. A configuration update (ECDS, LDS)
/// makes a new root context and with it an empty cache: no verdict outlives its policy.
/// Connection ids are never reused by an Envoy process; the cache is emptied when full.
#[derive(Default)]
struct Verdicts {
    by_connection: RefCell<HashMap<u64, Verdict>>,
}

/// Enough for the keep-alive connections one worker holds at once; past it, start over.
const VERDICTS_KEPT: usize = 4096;

impl Verdicts {
    fn get(&self, connection: u64) -> Option<Verdict> {
        self.by_connection.borrow().get(&connection).cloned()
    }

    fn keep(&self, connection: u64, verdict: &Verdict) {
        let mut map = self.by_connection.borrow_mut();
        if map.len() >= VERDICTS_KEPT {
            map.clear();
        }
        map.insert(connection, verdict.clone());
    }
}

struct Shared {
    guard: Guard,
    metrics: Metrics,
    verdicts: Verdicts,
}

// === impl Root ===

#[derive(Default)]
struct Root {
    shared: Option<Rc<Shared>>,
    /// Set when the configuration was refused; streams then deny everything (Envoy never
    /// creates them in that state, but a host that did must not get a panic, pitfall P10).
    kind: Option<FilterKind>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let config =
            hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX).ok().flatten().unwrap_or_default();
        let root_id =
            hostcalls::get_property(vec!["plugin_root_id"]).ok().flatten().and_then(|b| String::from_utf8(b).ok());
        match Guard::configure(&config, root_id.as_deref()) {
            Ok(guard) => {
                log(LogLevel::Info, &guard.summary());
                self.kind = Some(guard.kind);
                self.shared =
                    Some(Rc::new(Shared { guard, metrics: Metrics::default(), verdicts: Verdicts::default() }));
                true
            }
            Err(e) => {
                log(LogLevel::Error, &one_line(&e));
                self.shared = None;
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        match self.kind {
            Some(FilterKind::Network) => Some(ContextType::StreamContext),
            _ => Some(ContextType::HttpContext),
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http { shared: self.shared.clone(), authority: None }))
    }

    fn create_stream_context(&self, _context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(Net { shared: self.shared.clone(), decided: false }))
    }
}

fn one_line(e: &ConfigError) -> String {
    let msg = e.to_string().replace(['\n', '\r'], " ");
    format!("meshlock: configuration refused: {msg}")
}

// === connection facts ===

fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// Decides one inbound connection or request from Envoy's connection properties.
fn decide_inbound(guard: &Guard) -> Verdict {
    let raw = InboundProperties {
        destination_port: property(&["destination", "port"]),
        mtls: property(&["connection", "mtls"]),
        tls_version: property(&["connection", "tls_version"]),
        uri_san: property(&["connection", "uri_san_peer_certificate"]),
    };
    raw.decide(guard)
}

/// Envoy's downstream connection id (`connection.id`, 8 bytes little-endian).
fn connection_id() -> Option<u64> {
    let bytes: [u8; 8] = property(&["connection", "id"])?.as_slice().try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// [`decide_inbound`] once per connection: later requests on it reuse the verdict.
fn decide_inbound_cached(shared: &Shared) -> Verdict {
    let Some(connection) = connection_id() else {
        return decide_inbound(&shared.guard);
    };
    if let Some(verdict) = shared.verdicts.get(connection) {
        return verdict;
    }
    let verdict = decide_inbound(&shared.guard);
    shared.verdicts.keep(connection, &verdict);
    verdict
}

fn record(shared: &Shared, verdict: &Verdict, what: &str) {
    shared.metrics.count(verdict);
    if shared.guard.log_decisions {
        log(LogLevel::Info, &format!("meshlock: {what}: {} ({})", verdict.verdict(), verdict.reason()));
    }
}

/// Test builds only (feature `test-panic`): the marker, as an HTTP request header name or
/// anywhere in a connection's first bytes, makes the filter panic so the fault tests can trap
/// the real filter.
#[cfg(feature = "test-panic")]
const TEST_PANIC_MARKER: &str = "x-meshlock-test-panic";

#[cfg(feature = "test-panic")]
#[expect(clippy::panic, reason = "the test-panic feature exists to trap the VM; never in a release build")]
fn test_panic_if(marked: bool) {
    if marked {
        panic!("meshlock: {TEST_PANIC_MARKER} requested a panic");
    }
}

// === impl Net ===

struct Net {
    shared: Option<Rc<Shared>>,
    decided: bool,
}

impl Context for Net {}

impl StreamContext for Net {
    // No decision in on_new_connection: the TLS handshake has not finished there (pitfall P2).
    fn on_downstream_data(&mut self, _data_size: usize, _end_of_stream: bool) -> Action {
        if self.decided {
            return Action::Continue;
        }
        self.decided = true;
        #[cfg(feature = "test-panic")]
        test_panic_if(
            hostcalls::get_buffer(BufferType::DownstreamData, 0, _data_size)
                .ok()
                .flatten()
                .is_some_and(|b| b.windows(TEST_PANIC_MARKER.len()).any(|w| w == TEST_PANIC_MARKER.as_bytes())),
        );
        let Some(shared) = self.shared.as_deref() else {
            let _ = hostcalls::close_downstream();
            return Action::Pause;
        };
        let verdict = match &shared.guard.enforcement {
            Enforcement::Inbound(_) => decide_inbound(&shared.guard),
            Enforcement::Outbound(_) => Verdict::Refused("not_inbound"),
        };
        record(shared, &verdict, "connection");
        if verdict.is_allow() {
            Action::Continue
        } else {
            let _ = hostcalls::close_downstream();
            Action::Pause
        }
    }
}

// === impl Http ===

struct Http {
    shared: Option<Rc<Shared>>,
    authority: Option<String>,
}

impl Context for Http {}

impl Http {
    fn reply(status: u32, verdict: &Verdict) {
        let reason = verdict.reason();
        let body = format!("meshlock: {} ({reason})\n", verdict.verdict());
        let _ = hostcalls::send_http_response(status, vec![("x-meshlock-deny", reason)], Some(body.as_bytes()));
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        #[cfg(feature = "test-panic")]
        test_panic_if(
            hostcalls::get_map_value(MapType::HttpRequestHeaders, TEST_PANIC_MARKER).ok().flatten().is_some(),
        );
        let Some(shared) = self.shared.as_deref() else {
            Self::reply(403, &Verdict::Refused("unconfigured"));
            return Action::Pause;
        };
        match &shared.guard.enforcement {
            Enforcement::Inbound(_) => {
                let verdict = decide_inbound_cached(shared);
                record(shared, &verdict, "request");
                if verdict.is_allow() {
                    Action::Continue
                } else {
                    Self::reply(403, &verdict);
                    Action::Pause
                }
            }
            Enforcement::Outbound(_) => {
                // The upstream certificate is known only with the response (pitfall P6).
                self.authority = hostcalls::get_map_value(MapType::HttpRequestHeaders, ":authority").ok().flatten();
                Action::Continue
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.as_deref() else {
            return Action::Continue;
        };
        if !matches!(shared.guard.enforcement, Enforcement::Outbound(_)) {
            return Action::Continue;
        }
        // Envoy runs the encoder filters on its own local replies too (the 503 for an upstream
        // whose chain failed verification): no upstream answered, so there is no certificate to
        // judge and nothing of an upstream's reaches the app. Absent outside Envoy.
        if property(&["response", "code_details"]).is_some_and(|d| d != b"via_upstream") {
            return Action::Continue;
        }
        let raw_san = property(&["upstream", "uri_san_peer_certificate"]);
        let san = properties::uri_san(raw_san.as_deref());
        // Envoy sets `upstream.tls_version` only on a TLS upstream connection.
        let upstream_tls = property(&["upstream", "tls_version"]).is_some_and(|v| !v.is_empty());
        let verdict = shared.guard.decide_outbound_upstream(self.authority.as_deref(), upstream_tls, san);
        record(shared, &verdict, "upstream");
        if verdict.is_allow() {
            Action::Continue
        } else {
            let reason = verdict.reason();
            let body = format!(
                "meshlock: upstream identity {} is not one {} may present ({reason})\n",
                san.unwrap_or("(none)"),
                self.authority.as_deref().unwrap_or("(no authority)"),
            );
            let _ = hostcalls::send_http_response(503, vec![("x-meshlock-deny", reason)], Some(body.as_bytes()));
            Action::Pause
        }
    }
}
