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
    /// ISTIO_MUTUAL SANs from the DestinationRule (`None`: the service's identities).
    dr_sans: Option<Vec<String>>,
}

pub fn calls(a: &Analysis, filter: &ReachFilter) -> ReachReport {
    let mut out = Vec::new();
    for_each_call(a, filter, |c| out.push(c));
    ReachReport { calls: out }
}

/// Visits every call without collecting them: a full matrix of a large mesh is millions of rows,
/// which a caller can stream or count in constant memory.
pub fn for_each_call(a: &Analysis, filter: &ReachFilter, mut visit: impl FnMut(Call)) {
    for (ci, client) in a.workloads.iter().enumerate() {
        let client_key = client.key();
        if !filter.wants_client(&client_key) {
            continue;
        }
        for svc in a.services.iter().filter(|s| !s.mesh_external && !s.endpoints.is_empty()) {
            for sp in &svc.ports {
                if !filter.wants_destination(svc, sp.port) {
                    continue;
                }
                let subsets = if client.sidecar { routed_subsets(a, svc, sp.port) } else { Vec::new() };
                let routes: Vec<Option<&str>> =
                    if subsets.is_empty() { vec![None] } else { subsets.iter().map(|s| Some(s.as_str())).collect() };
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
                        let Some(name) = subset else {
                            visit(evaluate(a, client, svc, sp, None, endpoint));
                            continue;
                        };
                        match subset_match(a, client, svc, name, endpoint) {
                            SubsetMatch::Selects => visit(evaluate(a, client, svc, sp, subset, endpoint)),
                            SubsetMatch::Excludes => {}
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
                                visit(call);
                            }
                        }
                    }
                }
            }
        }
    }
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
            TlsMode::IstioMutual => (Sends::IstioMutual, tls.subject_alt_names.clone().filter(|s| !s.is_empty())),
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
            let expected: Vec<String> = cs.dr_sans.clone().unwrap_or_else(|| svc.identities.clone());
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
