//! Reachability: for every client × service port × endpoint (× subset reached through a
//! VirtualService), what the client sends, what the server accepts, and what a user sees.
//!
//! Client TLS follows `pilot/pkg/networking/core/cluster_tls.go :: buildUpstreamTLSSettings`
//! and, for auto mTLS, `pilot/pkg/xds/endpoints/mtls_checker.go :: checkMtlsEnabled`; the
//! outcome follows the matrix in istio-mtls-semantics.md §3.2.

use crate::analysis::{Analysis, ServiceView, WorkloadView, host_matches_query};
use crate::client::{resolve_host, rule_tls};
use crate::model::{Mode, ServicePort, TlsMode};
use crate::report::{Call, ClientTlsKind, ReachReport, ServerModeKind};
use crate::server::{alpha_chain, target_port};
use std::ops::ControlFlow;

/// Which calls to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReachFilter {
    /// Client workloads as `namespace/name` (empty: all).
    pub from: Vec<String>,
    /// Destinations as `HOST[:PORT]` (empty: all); HOST is an FQDN or `name.namespace`.
    pub to: Vec<String>,
    /// Only calls landing on this workload (`namespace/name`).
    pub to_workload: Option<String>,
}

impl ReachFilter {
    fn wants_client(&self, key: &str) -> bool {
        self.from.is_empty() || self.from.iter().any(|f| f == key)
    }

    fn wants_destination(&self, svc: &ServiceView, port: u16) -> bool {
        self.to.is_empty()
            || self.to.iter().any(|t| {
                let (host, want_port) = match t.rsplit_once(':') {
                    Some((h, p)) => (h, p.parse::<u16>().ok()),
                    None => (t.as_str(), None),
                };
                host_matches_query(&svc.host, host) && want_port.is_none_or(|p| p == port)
            })
    }
}

/// What the client puts on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sends {
    Plaintext,
    IstioMutual,
    UserTls,
}

struct ClientSide {
    kind: ClientTlsKind,
    source: String,
    sends: Sends,
    /// The ISTIO_MUTUAL rule's SANs (`client::rule_sans`); `None`: the service's identities.
    dr_sans: Option<Vec<String>>,
}

pub fn calls(a: &Analysis, filter: &ReachFilter) -> ReachReport {
    let mut out = Vec::new();
    for_each_call(a, filter, |c| out.push(c));
    ReachReport { calls: out }
}

/// The service ports a filter wants, with the subsets mesh VirtualServices route to on each:
/// computed once, not once per client.
fn destinations<'a>(a: &'a Analysis, filter: &ReachFilter) -> Vec<(&'a ServiceView, &'a ServicePort, Vec<String>)> {
    let mut out = Vec::new();
    for svc in a.services.iter().filter(|s| !s.mesh_external && !s.endpoints.is_empty()) {
        for sp in svc.ports.iter().filter(|sp| filter.wants_destination(svc, sp.port)) {
            out.push((svc, sp, routed_subsets(a, svc, sp.port)));
        }
    }
    out
}

/// Visits every call without collecting them: a full matrix of a large mesh is millions of rows,
/// which a caller can stream or count in constant memory.
pub fn for_each_call(a: &Analysis, filter: &ReachFilter, mut visit: impl FnMut(Call)) {
    let _ = try_for_each_call(a, filter, |call| {
        visit(call);
        ControlFlow::<()>::Continue(())
    });
}

/// [`for_each_call`] that the visitor can stop early (a caller that wants the first few calls of
/// each outcome stops once it has them).
pub fn try_for_each_call<B>(
    a: &Analysis,
    filter: &ReachFilter,
    mut visit: impl FnMut(Call) -> ControlFlow<B>,
) -> ControlFlow<B> {
    let destinations = destinations(a, filter);
    for (ci, client) in a.workloads.iter().enumerate() {
        let client_key = client.key();
        if !filter.wants_client(&client_key) {
            continue;
        }
        for (svc, sp, subsets) in &destinations {
            let routes = routes(client.sidecar, subsets);
            for subset in routes {
                for &ei in &svc.endpoints {
                    if ei == ci {
                        continue;
                    }
                    let Some(endpoint) = a.workloads.get(ei) else {
                        continue;
                    };
                    if filter.to_workload.as_deref().is_some_and(|k| k != endpoint.key()) {
                        continue;
                    }
                    if let Some(call) = routed_call(a, client, svc, sp, subset, endpoint) {
                        visit(call)?;
                    }
                }
            }
        }
    }
    ControlFlow::Continue(())
}

/// The routes a client takes to a service port: through each routed subset when the client has
/// a sidecar (VirtualServices are applied by the client's proxy), else straight to the service.
fn routes(sidecar: bool, subsets: &[String]) -> Vec<Option<&str>> {
    if sidecar && !subsets.is_empty() { subsets.iter().map(|s| Some(s.as_str())).collect() } else { vec![None] }
}

/// One call along one route, or `None` when the route's subset does not select the endpoint.
fn routed_call(
    a: &Analysis,
    client: &WorkloadView,
    svc: &ServiceView,
    sp: &ServicePort,
    subset: Option<&str>,
    endpoint: &WorkloadView,
) -> Option<Call> {
    let Some(name) = subset else {
        return Some(evaluate(a, client, svc, sp, None, endpoint));
    };
    match subset_match(a, client, svc, name, endpoint) {
        SubsetMatch::Selects => Some(evaluate(a, client, svc, sp, subset, endpoint)),
        SubsetMatch::Excludes => None,
        SubsetMatch::Undefined => {
            // The route names a cluster that does not exist.
            let mut call = evaluate(a, client, svc, sp, subset, endpoint);
            call.ok = false;
            call.mtls = false;
            call.symptom = Some(format!(
                "503 (NC: no cluster): the VirtualService routes to subset {name}, which the \
                 DestinationRule this client uses does not define"
            ));
            call.explanation = format!("{}; subset {name} is undefined", call.explanation);
            Some(call)
        }
    }
}

/// How many calls [`for_each_call`] visits, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReachCounts {
    pub total: u64,
    pub failing: u64,
    /// Admitted without mutual TLS.
    pub plaintext: u64,
    pub mtls: u64,
}

impl ReachCounts {
    fn add(&mut self, call: &Call, times: u64) {
        self.total += times;
        if !call.ok {
            self.failing += times;
        } else if call.mtls {
            self.mtls += times;
        } else {
            self.plaintext += times;
        }
    }
}

/// Clients whose calls to one service have the same outcome, evaluated once and counted
/// `size` times.
struct ClientClass<'a> {
    representative: &'a WorkloadView,
    size: u64,
    members: Members<'a>,
}

enum Members<'a> {
    /// Every wanted client without a sidecar: it sends plaintext whatever its namespace.
    NoSidecar,
    /// Sidecar clients of one namespace (that namespace's view of the rules is its own).
    Namespace(&'a str),
    /// Sidecar clients of one namespace with these labels (a rule there selects workloads).
    Labelled(&'a str, &'a crate::model::Labels),
    /// Sidecar clients of every other namespace: they see the same rule for this host.
    Ordinary,
}

/// The counts of [`for_each_call`] in time linear in the mesh, not clients × services: per service,
/// clients fall into the few classes the DestinationRule lookup can tell apart
/// (`DestinationRuleIndex::lookup`): clients without a sidecar (no rule applies), sidecar clients
/// of a namespace that holds a rule for the host, selects by labels, is named in an exportTo, or
/// is the service's or the root namespace, and all other sidecar clients, who fall through to the
/// same service- and root-namespace rules. Nothing else of the client enters a call's outcome
/// ([`evaluate`] reads the client's sidecar, namespace and labels only). A class does not call
/// itself: an endpoint inside the class counts once less.
pub fn count_calls(a: &Analysis, filter: &ReachFilter) -> ReachCounts {
    use std::collections::{BTreeMap, BTreeSet};
    let wanted: Vec<bool> = a.workloads.iter().map(|w| filter.wants_client(&w.key())).collect();
    let is_wanted = |i: usize| wanted.get(i).copied().unwrap_or(false);
    let mut no_sidecar: Vec<usize> = Vec::new();
    let mut by_namespace: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, w) in a.workloads.iter().enumerate().filter(|(i, _)| is_wanted(*i)) {
        if w.sidecar {
            by_namespace.entry(w.namespace()).or_default().push(i);
        } else {
            no_sidecar.push(i);
        }
    }
    let sidecar_total: usize = by_namespace.values().map(Vec::len).sum();
    let root = a.mesh.root_namespace.as_str();
    let selector_ns = a.destination_rules.selector_namespaces();
    let export_named = a.destination_rules.export_named_namespaces();
    let mut counts = ReachCounts::default();
    let destinations = destinations(a, filter);
    let mut current: Option<&ServiceView> = None;
    let mut special: BTreeSet<&str> = BTreeSet::new();
    let mut classes: Vec<ClientClass<'_>> = Vec::new();
    for (svc, sp, subsets) in &destinations {
        if !current.is_some_and(|c| std::ptr::eq(c, *svc)) {
            current = Some(*svc);
            special = a.destination_rules.namespaces_matching(&svc.host);
            special.extend(export_named.iter().copied());
            special.extend(selector_ns.iter().copied());
            special.insert(svc.namespace.as_str());
            special.insert(root);
            classes = client_classes(a, &no_sidecar, &by_namespace, sidecar_total, &special, &selector_ns);
        }
        for class in &classes {
            for subset in routes(class.representative.sidecar, subsets) {
                for &ei in &svc.endpoints {
                    let Some(endpoint) = a.workloads.get(ei) else { continue };
                    if filter.to_workload.as_deref().is_some_and(|k| k != endpoint.key()) {
                        continue;
                    }
                    let inside = is_wanted(ei)
                        && match class.members {
                            Members::NoSidecar => !endpoint.sidecar,
                            Members::Namespace(ns) => endpoint.sidecar && endpoint.namespace() == ns,
                            Members::Labelled(ns, labels) => {
                                endpoint.sidecar && endpoint.namespace() == ns && endpoint.labels() == labels
                            }
                            Members::Ordinary => endpoint.sidecar && !special.contains(endpoint.namespace()),
                        };
                    let times = class.size - u64::from(inside);
                    if times == 0 {
                        continue;
                    }
                    if let Some(call) = routed_call(a, class.representative, svc, sp, subset, endpoint) {
                        counts.add(&call, times);
                    }
                }
            }
        }
    }
    counts
}

fn client_classes<'a>(
    a: &'a Analysis,
    no_sidecar: &[usize],
    by_namespace: &std::collections::BTreeMap<&'a str, Vec<usize>>,
    sidecar_total: usize,
    special: &std::collections::BTreeSet<&'a str>,
    selector_ns: &std::collections::BTreeSet<&'a str>,
) -> Vec<ClientClass<'a>> {
    let workload = |i: usize| a.workloads.get(i);
    let size = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let mut classes = Vec::new();
    if let Some(representative) = no_sidecar.first().copied().and_then(workload) {
        classes.push(ClientClass { representative, size: size(no_sidecar.len()), members: Members::NoSidecar });
    }
    let mut special_total = 0;
    for ns in special {
        let Some(list) = by_namespace.get(ns) else { continue };
        special_total += list.len();
        if selector_ns.contains(ns) {
            let mut by_labels: std::collections::BTreeMap<&crate::model::Labels, (usize, usize)> =
                std::collections::BTreeMap::new();
            for &i in list {
                if let Some(w) = workload(i) {
                    by_labels.entry(w.labels()).or_insert((i, 0)).1 += 1;
                }
            }
            for (labels, (first, n)) in by_labels {
                if let Some(representative) = workload(first) {
                    classes.push(ClientClass { representative, size: size(n), members: Members::Labelled(ns, labels) });
                }
            }
        } else if let Some(representative) = list.first().copied().and_then(workload) {
            classes.push(ClientClass { representative, size: size(list.len()), members: Members::Namespace(ns) });
        }
    }
    let ordinary = sidecar_total.saturating_sub(special_total);
    let first_ordinary = by_namespace.iter().find(|(ns, _)| !special.contains(*ns)).and_then(|(_, l)| l.first());
    if ordinary > 0
        && let Some(representative) = first_ordinary.copied().and_then(workload)
    {
        classes.push(ClientClass { representative, size: size(ordinary), members: Members::Ordinary });
    }
    classes
}

/// Subsets of `svc` that a mesh VirtualService routes to on `port`.
pub(crate) fn routed_subsets(a: &Analysis, svc: &ServiceView, port: u16) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for vs in &a.resources.virtual_services {
        if !(vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == "mesh")) {
            continue;
        }
        let ns = vs.meta.namespace();
        if !vs.hosts.iter().any(|h| resolve_host(h, ns) == svc.host) {
            continue;
        }
        for d in &vs.destinations {
            if resolve_host(&d.host, ns) != svc.host || d.port.is_some_and(|p| p != port) {
                continue;
            }
            if let Some(s) = &d.subset
                && !out.contains(s)
            {
                out.push(s.clone());
            }
        }
    }
    out
}

/// How a routed subset relates to one endpoint, for one client's DestinationRule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubsetMatch {
    Selects,
    Excludes,
    /// The rule the client uses defines no such subset (or the client uses no rule).
    Undefined,
}

pub(crate) fn subset_match(
    a: &Analysis,
    client: &WorkloadView,
    svc: &ServiceView,
    subset: &str,
    endpoint: &WorkloadView,
) -> SubsetMatch {
    let rule = a.destination_rules.lookup(client.namespace(), client.labels(), &svc.host, &svc.namespace);
    match rule.and_then(|r| r.subsets.iter().find(|(s, _)| s.name == subset)) {
        None => SubsetMatch::Undefined,
        Some((s, _)) if s.labels.iter().all(|(k, v)| endpoint.labels().get(k) == Some(v)) => SubsetMatch::Selects,
        Some(_) => SubsetMatch::Excludes,
    }
}

/// `BestEffortInferServiceMTLSMode`: the mode auto mTLS assumes for a service, from mesh- and
/// namespace-level policy only ("ignore workload & port level policies").
fn service_mtls_mode(a: &Analysis, svc: &ServiceView, sp: &ServicePort, passthrough: bool) -> Option<Mode> {
    if svc.mesh_external {
        return None;
    }
    if svc.headless || passthrough {
        let any_plain = svc.endpoints.iter().filter_map(|&i| a.workloads.get(i)).any(|w| !w.sidecar);
        if svc.endpoints.is_empty() || any_plain {
            return Some(Mode::Disable);
        }
    }
    if a.read_beta
        && let Some(m) = a.namespace_mode(&svc.namespace)
    {
        return Some(m);
    }
    if a.read_alpha {
        let (m, chain) = alpha_chain(a, &svc.namespace, Some((svc, sp)));
        // 1.4 used the alpha mode outright (DISABLE without any policy); 1.5 only when a
        // policy exists, and PERMISSIVE otherwise.
        if !a.read_beta || chain.len() > 1 {
            return Some(m);
        }
    }
    Some(Mode::Permissive)
}

fn client_side(
    a: &Analysis,
    client: &WorkloadView,
    svc: &ServiceView,
    sp: &ServicePort,
    subset: Option<&str>,
    endpoint: &WorkloadView,
    target: u16,
) -> ClientSide {
    if !client.sidecar {
        return ClientSide {
            kind: ClientTlsKind::None,
            source: "no sidecar".to_owned(),
            sends: Sends::Plaintext,
            dr_sans: None,
        };
    }
    let rule = a.destination_rules.lookup(client.namespace(), client.labels(), &svc.host, &svc.namespace);
    let rt = rule.map(|r| rule_tls(r, sp.port, subset));
    if let Some(tls) = rt.as_ref().and_then(|r| r.tls.as_ref()) {
        let source = rt.as_ref().map(|r| r.source.clone()).unwrap_or_default();
        let (sends, dr_sans) = match tls.mode {
            TlsMode::Disable => (Sends::Plaintext, None),
            TlsMode::IstioMutual => (Sends::IstioMutual, crate::client::rule_sans(tls).map(<[String]>::to_vec)),
            TlsMode::Simple | TlsMode::Mutual => (Sends::UserTls, None),
        };
        let source = if tls.mode_omitted { format!("{source} (tls without mode: DISABLE)") } else { source };
        return ClientSide { kind: tls.mode.into(), source, sends, dr_sans };
    }
    let prefix = rt.map(|r| format!("{} leaves tls unset; ", r.source)).unwrap_or_default();
    let plain = |why: String| ClientSide {
        kind: ClientTlsKind::Disable,
        source: format!("{prefix}{why}"),
        sends: Sends::Plaintext,
        dr_sans: None,
    };
    if !a.auto_mtls {
        return plain("auto mTLS off (enableAutoMtls: false): plaintext".to_owned());
    }
    let passthrough = rule.and_then(|r| r.traffic_policy.as_ref()).is_some_and(|(tp, _)| tp.passthrough_lb);
    match service_mtls_mode(a, svc, sp, passthrough) {
        None => return plain("auto mTLS: the service is outside the mesh".to_owned()),
        Some(Mode::Disable) if svc.headless || passthrough => {
            return plain(
                "auto mTLS: a headless/passthrough service with an endpoint without sidecar gets no TLS".to_owned(),
            );
        }
        Some(Mode::Disable) => {
            return plain(format!(
                "auto mTLS: the mesh/namespace PeerAuthentication of {} is DISABLE, so the cluster has no TLS",
                svc.namespace
            ));
        }
        Some(_) => {}
    }
    if !endpoint.sidecar {
        return plain("auto mTLS: the endpoint has no sidecar (no security.istio.io/tlsMode=istio)".to_owned());
    }
    // Headless (ORIGINAL_DST) clusters get the TLS socket unconditionally: no per-endpoint check.
    if a.version.auto_mtls_checks_workload_policy()
        && !svc.headless
        && endpoint.server.mode_for_port(target) == Mode::Disable
    {
        return plain(format!("auto mTLS: the endpoint's own PeerAuthentication is DISABLE on port {target}"));
    }
    ClientSide {
        kind: ClientTlsKind::IstioMutual,
        source: format!("{prefix}auto mTLS"),
        sends: Sends::IstioMutual,
        dr_sans: None,
    }
}

fn port_protocol(sp: &ServicePort) -> (bool, bool) {
    let name = sp.name.as_deref().unwrap_or("").to_ascii_lowercase();
    let prefix = name.split('-').next().unwrap_or("");
    let http = matches!(prefix, "http" | "http2" | "grpc" | "grpc-web");
    let app_tls = matches!(prefix, "https" | "tls") || sp.port == 443;
    (http, app_tls)
}

const RESET_56: &str = "connection reset by peer (curl: (56) Recv failure: Connection reset by peer; HTTP code 000)";
const UPSTREAM_503: &str =
    "503 upstream connect error or disconnect/reset before headers. reset reason: connection termination";

pub(crate) fn evaluate(
    a: &Analysis,
    client: &WorkloadView,
    svc: &ServiceView,
    sp: &ServicePort,
    subset: Option<&str>,
    endpoint: &WorkloadView,
) -> Call {
    let target = target_port(sp, &endpoint.workload).unwrap_or(sp.port);
    let server_mode = if endpoint.sidecar { Some(endpoint.server.mode_for_port(target)) } else { None };
    let cs = client_side(a, client, svc, sp, subset, endpoint, target);
    let (http, app_tls) = port_protocol(sp);
    let server_kind = match server_mode {
        None => ServerModeKind::NoSidecar,
        Some(Mode::Strict) => ServerModeKind::Strict,
        Some(Mode::Permissive) => ServerModeKind::Permissive,
        Some(Mode::Disable) => ServerModeKind::Disable,
    };
    let (ok, mtls, symptom, why): (bool, bool, Option<String>, String) = match (cs.sends, server_mode) {
        (Sends::Plaintext, Some(Mode::Strict)) => {
            let symptom = if client.sidecar && http {
                format!("{UPSTREAM_503} (UF); the server sidecar logs NR filter_chain_not_found")
            } else {
                format!("{RESET_56}; the server sidecar logs NR filter_chain_not_found")
            };
            (false, false, Some(symptom), "plaintext to a STRICT port matches no filter chain".to_owned())
        }
        (Sends::Plaintext, Some(Mode::Permissive)) => (true, false, None, "PERMISSIVE accepts plaintext".to_owned()),
        (Sends::Plaintext, Some(Mode::Disable)) => (true, false, None, "DISABLE accepts plaintext".to_owned()),
        (Sends::Plaintext, None) => (true, false, None, "no sidecar: the app receives plaintext".to_owned()),
        (Sends::IstioMutual, Some(Mode::Strict | Mode::Permissive)) => {
            let expected = crate::client::accepted_sans(cs.dr_sans.as_deref(), &svc.identities);
            if !expected.is_empty() && !expected.contains(&endpoint.identity) {
                let symptom = format!(
                    "503 upstream connect error or disconnect/reset before headers. reset reason: connection failure, \
                     transport failure reason: TLS error: CERTIFICATE_VERIFY_FAILED (UF); the server presents {}, not one of {}",
                    endpoint.identity,
                    expected.join(", ")
                );
                (
                    false,
                    false,
                    Some(symptom),
                    "secure naming: the server's identity is not one the client expects".to_owned(),
                )
            } else {
                (true, true, None, "Istio mTLS terminated by the server sidecar".to_owned())
            }
        }
        (Sends::IstioMutual, Some(Mode::Disable)) => (
            false,
            false,
            Some(format!("{UPSTREAM_503} (UF); the server's mTLS is DISABLE, so the Istio TLS bytes reach the app")),
            "Istio mTLS to a port whose mTLS is DISABLE".to_owned(),
        ),
        (Sends::IstioMutual, None) => (
            false,
            false,
            Some(format!("{UPSTREAM_503} (UF); Istio mTLS to a workload without a sidecar")),
            "Istio mTLS to a workload without a sidecar".to_owned(),
        ),
        (Sends::UserTls, Some(Mode::Strict)) => (
            false,
            false,
            Some(format!(
                "{UPSTREAM_503} (UF); TLS error: the STRICT sidecar wants an Istio client certificate and the istio ALPN"
            )),
            "SIMPLE/MUTUAL TLS is not Istio mTLS (code-derived)".to_owned(),
        ),
        (Sends::UserTls, Some(Mode::Permissive)) if http => (
            false,
            false,
            Some(format!(
                "{UPSTREAM_503} (UF); the server sidecar logs NR filter_chain_not_found (TLS without the istio ALPN on an HTTP port)"
            )),
            "PERMISSIVE has no chain for non-Istio TLS on an HTTP port (code-derived)".to_owned(),
        ),
        (Sends::UserTls, _) if app_tls => {
            (true, false, None, "TLS passed through to an app that terminates TLS itself (code-derived)".to_owned())
        }
        (Sends::UserTls, _) => (
            false,
            false,
            Some(format!("{UPSTREAM_503} (UF); TLS sent to an app that speaks plaintext")),
            "the client originates TLS but the app does not terminate it (code-derived)".to_owned(),
        ),
    };
    let explanation = format!(
        "{} sends {} ({}); {}:{target} is {server_kind}: {why}",
        client.key(),
        cs.kind,
        cs.source,
        endpoint.key()
    );
    Call {
        from: client.key(),
        from_sidecar: client.sidecar,
        to: format!("{}:{}", svc.host, sp.port),
        to_workload: endpoint.key(),
        subset: subset.map(str::to_owned),
        client_tls: cs.kind,
        client_tls_source: cs.source,
        server_mode: server_kind,
        ok,
        mtls,
        symptom,
        target_port: target,
        explanation,
    }
}
