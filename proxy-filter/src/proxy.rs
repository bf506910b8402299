//! What the filter does with each proxy-wasm callback: Envoy's properties in, continue / local
//! reply / close out. The raw ABI is [`crate::abi`]; everything here is safe code.
//!
//! Contexts are kept by id in one sorted list: a root context per plugin (its configuration), a
//! stream context per HTTP stream or TCP connection (sharing its root's configuration). A borrow
//! of the list never spans a host call, and every lookup that fails (an id the host never
//! created, a callback of the other filter kind) fails closed instead of trapping: a trap in a
//! shared VM takes every plugin in it down (docs/envoy.md, pitfall P5). Nothing here can panic
//! on host data.

use crate::abi::{self, LogLevel};
use crate::config::{ConfigError, Enforcement, FilterKind, Guard, Verdict};
use crate::properties::{self, InboundProperties};
use std::cell::RefCell;
use std::rc::Rc;

/// `proxy_action_t`: continue the stream, or hold it (after a local reply or a close).
pub const CONTINUE: u32 = 0;
const PAUSE: u32 = 1;

/// Called once from `_initialize`: a panic (only the fault-test build has one on purpose) is
/// logged as a critical line before the trap, as the SDK's hook did.
pub fn start() {
    std::panic::set_hook(Box::new(|info| abi::log(LogLevel::Critical, &info.to_string())));
}

/// Counters by decision and reason, defined on first use (`meshlock.decisions.allow.mtls_peer`);
/// looked up by the verdict itself (an enum compare, no string compare), so a request allocates
/// nothing to count. Verdicts of one name share the host's counter.
#[derive(Default)]
struct Metrics {
    ids: RefCell<Vec<(Verdict, u32)>>,
}

impl Metrics {
    fn count(&self, verdict: &Verdict) {
        let known = self.ids.try_borrow().ok().and_then(|ids| ids.iter().find(|k| k.0 == *verdict).map(|k| k.1));
        let id = match known {
            Some(id) => id,
            None => match abi::define_counter(&verdict.metric_name()) {
                Some(id) => {
                    if let Ok(mut ids) = self.ids.try_borrow_mut() {
                        ids.push((verdict.clone(), id));
                    }
                    id
                }
                None => return,
            },
        };
        abi::increment_counter(id);
    }
}

/// Inbound verdicts by Envoy's connection id, sorted by it. The peer certificate and the
/// destination port cannot change on a connection, so the requests of a keep-alive connection
/// after the first cost one property read instead of four and no decision. A configuration
/// update (ECDS, LDS) makes a new root context and with it an empty cache: no verdict outlives
/// its policy. Connection ids are never reused by an Envoy process (and grow, so a new one is
/// appended); the cache is emptied when full.
#[derive(Default)]
struct Verdicts {
    by_connection: RefCell<Vec<(u64, Verdict)>>,
}

/// Enough for the keep-alive connections one worker holds at once; past it, start over.
const VERDICTS_KEPT: usize = 4096;

impl Verdicts {
    fn get(&self, connection: u64) -> Option<Verdict> {
        let list = self.by_connection.try_borrow().ok()?;
        let at = list.binary_search_by_key(&connection, |(c, _)| *c).ok()?;
        list.get(at).map(|(_, v)| v.clone())
    }

    fn keep(&self, connection: u64, verdict: &Verdict) {
        let Ok(mut list) = self.by_connection.try_borrow_mut() else {
            return;
        };
        if list.len() >= VERDICTS_KEPT {
            list.clear();
        }
        match list.binary_search_by_key(&connection, |(c, _)| *c) {
            Ok(at) => {
                if let Some(slot) = list.get_mut(at) {
                    slot.1 = verdict.clone();
                }
            }
            Err(at) => list.insert(at, (connection, verdict.clone())),
        }
    }
}

struct Shared {
    guard: Guard,
    metrics: Metrics,
    verdicts: Verdicts,
}

// === contexts ===

#[derive(Clone)]
enum Context {
    /// One per plugin. `shared` is `None` until configured, or after a refused configuration;
    /// `kind` is the kind of its last good configuration (HTTP before one).
    Root { shared: Option<Rc<Shared>>, kind: Option<FilterKind> },
    /// An HTTP stream; `authority` is kept from the request for the outbound check.
    Http { shared: Option<Rc<Shared>>, authority: Option<Rc<str>> },
    /// A TCP connection, decided once on its first data.
    Net { shared: Option<Rc<Shared>>, decided: bool },
}

thread_local! {
    static CONTEXTS: RefCell<Vec<(u32, Context)>> = const { RefCell::new(Vec::new()) };
}

/// A copy of the context `id` (its configuration shared, not copied).
fn context(id: u32) -> Option<Context> {
    CONTEXTS.with(|contexts| {
        let list = contexts.try_borrow().ok()?;
        let at = list.binary_search_by_key(&id, |(c, _)| *c).ok()?;
        list.get(at).map(|(_, c)| c.clone())
    })
}

/// Sets (`Some`) or removes (`None`) the context `id`.
fn set_context(id: u32, value: Option<Context>) {
    CONTEXTS.with(|contexts| {
        let Ok(mut list) = contexts.try_borrow_mut() else {
            return;
        };
        match (list.binary_search_by_key(&id, |(c, _)| *c), value) {
            (Ok(at), Some(value)) => {
                if let Some(slot) = list.get_mut(at) {
                    slot.1 = value;
                }
            }
            (Ok(at), None) => {
                list.remove(at);
            }
            (Err(at), Some(value)) => list.insert(at, (id, value)),
            (Err(_), None) => {}
        }
    });
}

/// `proxy_on_context_create`: a root context (parent 0), or a stream of the kind its root's
/// configuration names. A stream whose root is unknown gets no context: its callbacks then
/// fail closed.
pub fn create(id: u32, root_id: u32) {
    if root_id == 0 {
        set_context(id, Some(Context::Root { shared: None, kind: None }));
        return;
    }
    let Some(Context::Root { shared, kind }) = context(root_id) else {
        return;
    };
    let stream = match kind {
        Some(FilterKind::Network) => Context::Net { shared, decided: false },
        _ => Context::Http { shared, authority: None },
    };
    set_context(id, Some(stream));
}

pub fn delete(id: u32) {
    set_context(id, None);
}

/// `proxy_on_configure`: false (Envoy refuses the configuration) with one line saying why.
pub fn configure(root_id: u32) -> bool {
    let Some(Context::Root { kind, .. }) = context(root_id) else {
        return false;
    };
    let config = abi::plugin_configuration().unwrap_or_default();
    let plugin_root_id = abi::property(b"plugin_root_id").and_then(|b| String::from_utf8(b).ok());
    match Guard::configure(&config, plugin_root_id.as_deref()) {
        Ok(guard) => {
            abi::log(LogLevel::Info, &guard.summary());
            let kind = Some(guard.kind);
            let shared = Some(Rc::new(Shared { guard, metrics: Metrics::default(), verdicts: Verdicts::default() }));
            set_context(root_id, Some(Context::Root { shared, kind }));
            true
        }
        Err(e) => {
            abi::log(LogLevel::Error, &one_line(&e));
            set_context(root_id, Some(Context::Root { shared: None, kind }));
            false
        }
    }
}

fn one_line(e: &ConfigError) -> String {
    let mut line = String::from("meshlock: configuration refused: ");
    line.push_str(&e.to_string().replace(['\n', '\r'], " "));
    line
}

// === connection facts ===

/// Decides one inbound connection or request from Envoy's connection properties.
fn decide_inbound(guard: &Guard) -> Verdict {
    let raw = InboundProperties {
        destination_port: abi::property(b"destination\0port"),
        mtls: abi::property(b"connection\0mtls"),
        tls_version: abi::property(b"connection\0tls_version"),
        uri_san: abi::property(b"connection\0uri_san_peer_certificate"),
    };
    raw.decide(guard)
}

/// Envoy's downstream connection id, 8 bytes little-endian. Envoy answers its top-level
/// `connection_id` with `connection.id`'s value without first building the connection's
/// property map in an arena, which `connection.id` does on every read; `connection.id` answers
/// on a host without it.
fn connection_id() -> Option<u64> {
    let raw = abi::property(b"connection_id").or_else(|| abi::property(b"connection\0id"))?;
    let bytes: [u8; 8] = raw.as_slice().try_into().ok()?;
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
        let mut line = String::from("meshlock: ");
        for part in [what, ": ", verdict.verdict(), " (", verdict.reason(), ")"] {
            line.push_str(part);
        }
        abi::log(LogLevel::Info, &line);
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
        // The marker spelled out: `TEST_PANIC_MARKER`.
        panic!("meshlock: x-meshlock-test-panic requested a panic");
    }
}

// === the network filter ===

/// `proxy_on_downstream_data`: decides on the connection's first data. No decision in
/// `proxy_on_new_connection`: the TLS handshake has not finished there (pitfall P2).
pub fn downstream_data(id: u32, _data_size: usize) -> u32 {
    let shared = match context(id) {
        Some(Context::Net { decided: true, .. }) => return CONTINUE,
        Some(Context::Net { shared, decided: false }) => {
            set_context(id, Some(Context::Net { shared: shared.clone(), decided: true }));
            shared
        }
        _ => None,
    };
    #[cfg(feature = "test-panic")]
    test_panic_if(
        abi::downstream_data(_data_size)
            .is_some_and(|b| b.windows(TEST_PANIC_MARKER.len()).any(|w| w == TEST_PANIC_MARKER.as_bytes())),
    );
    let Some(shared) = shared.as_deref() else {
        abi::close_downstream();
        return PAUSE;
    };
    let verdict = match &shared.guard.enforcement {
        Enforcement::Inbound(_) => decide_inbound(&shared.guard),
        Enforcement::Outbound(_) => Verdict::Refused("not_inbound"),
    };
    record(shared, &verdict, "connection");
    if verdict.is_allow() {
        CONTINUE
    } else {
        abi::close_downstream();
        PAUSE
    }
}

// === the HTTP filter ===

/// The deny reply: `meshlock: deny (<reason>)` and the reason in `x-meshlock-deny`.
fn reply(status: u32, verdict: &Verdict) {
    let reason = verdict.reason();
    let mut body = String::from("meshlock: ");
    for part in [verdict.verdict(), " (", reason, ")\n"] {
        body.push_str(part);
    }
    abi::send_local_response(status, ("x-meshlock-deny", reason), body.as_bytes());
}

/// `proxy_on_request_headers`: inbound, the decision; outbound, the authority kept for the
/// response.
pub fn request_headers(id: u32) -> u32 {
    #[cfg(feature = "test-panic")]
    test_panic_if(abi::request_header(TEST_PANIC_MARKER).is_some());
    let Some(Context::Http { shared: Some(shared), .. }) = context(id) else {
        reply(403, &Verdict::Refused("unconfigured"));
        return PAUSE;
    };
    match &shared.guard.enforcement {
        Enforcement::Inbound(_) => {
            let verdict = decide_inbound_cached(&shared);
            record(&shared, &verdict, "request");
            if verdict.is_allow() {
                CONTINUE
            } else {
                reply(403, &verdict);
                PAUSE
            }
        }
        Enforcement::Outbound(_) => {
            // The upstream certificate is known only with the response (pitfall P6).
            let authority = abi::request_header(":authority").map(Rc::from);
            set_context(id, Some(Context::Http { shared: Some(shared), authority }));
            CONTINUE
        }
    }
}

/// `proxy_on_response_headers`: outbound, secure naming on the upstream's certificate.
pub fn response_headers(id: u32) -> u32 {
    let Some(Context::Http { shared: Some(shared), authority }) = context(id) else {
        return CONTINUE;
    };
    if !matches!(shared.guard.enforcement, Enforcement::Outbound(_)) {
        return CONTINUE;
    }
    // Envoy runs the encoder filters on its own local replies too (the 503 for an upstream
    // whose chain failed verification): no upstream answered, so there is no certificate to
    // judge and nothing of an upstream's reaches the app. Absent outside Envoy.
    if abi::property(b"response\0code_details").is_some_and(|d| d != b"via_upstream") {
        return CONTINUE;
    }
    let raw_san = abi::property(b"upstream\0uri_san_peer_certificate");
    let san = properties::uri_san(raw_san.as_deref());
    // Envoy sets `upstream.tls_version` only on a TLS upstream connection.
    let upstream_tls = abi::property(b"upstream\0tls_version").is_some_and(|v| !v.is_empty());
    let verdict = shared.guard.decide_outbound_upstream(authority.as_deref(), upstream_tls, san);
    record(&shared, &verdict, "upstream");
    if verdict.is_allow() {
        return CONTINUE;
    }
    let reason = verdict.reason();
    let mut body = String::from("meshlock: upstream identity ");
    for part in [
        san.unwrap_or("(none)"),
        " is not one ",
        authority.as_deref().unwrap_or("(no authority)"),
        " may present (",
        reason,
        ")\n",
    ] {
        body.push_str(part);
    }
    abi::send_local_response(503, ("x-meshlock-deny", reason), body.as_bytes());
    PAUSE
}
