//! Calls that fail because of a combination of server and client settings, grouped by the
//! setting that causes them.

use super::d;
use crate::client::resolve_host;
use crate::diagnostic::{Code, Diagnostic};
use crate::index::Analysis;
use crate::model::*;
use crate::provenance::{AutoMtls, ClientTlsSource, PolicyRef};
use crate::report::{ClientTlsKind, ServerModeKind, list_some};
use crate::server::target_port;
use crate::source::Location;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The policy of a port no policy sets (Istio's default), to borrow like the others.
static BUILT_IN: PolicyRef = PolicyRef::BuiltIn;

/// Callers without a sidecar toward STRICT ports: one finding per policy that made ports STRICT,
/// at that policy's line, naming the ports and the callers.
fn plaintext_callers(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let plain: Vec<(usize, String)> = a
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| !w.sidecar && w.workload.kind.is_client())
        .map(|(i, w)| (i, w.key()))
        .collect();
    if plain.is_empty() {
        return;
    }
    // deciding policy → (its location, STRICT targets)
    let mut by_policy: BTreeMap<&PolicyRef, (Location, BTreeSet<String>)> = BTreeMap::new();
    let mut seen: BTreeSet<(usize, u16)> = BTreeSet::new();
    for svc in a.services.iter().filter(|s| !s.mesh_external) {
        for sp in &svc.ports {
            for &ei in &svc.endpoints {
                let Some(w) = a.workloads.get(ei) else { continue };
                let Some(port) = target_port(sp, &w.workload) else { continue };
                if !w.sidecar || w.server.mode_for_port(port) != Mode::Strict || !seen.insert((ei, port)) {
                    continue;
                }
                if !plain.iter().any(|(i, _)| *i != ei) {
                    continue;
                }
                let chain = w.server.chain_for_port(port);
                let decider = chain.iter().rev().find(|e| e.effect == crate::report::Effect::Applied);
                let policy = decider.map_or(&BUILT_IN, |e| &e.policy);
                let at = || {
                    decider
                        .and_then(|e| Some(Location::new(e.file.clone()?, e.line?, 1)))
                        .unwrap_or_else(|| w.workload.meta.at.clone())
                };
                let entry = by_policy.entry(policy).or_insert_with(|| (at(), BTreeSet::new()));
                entry.1.insert(format!("{}:{port}", w.key_text()));
            }
        }
    }
    let callers: Vec<&str> = plain.iter().map(|(_, k)| k.as_str()).collect();
    for (policy, (at, targets)) in by_policy {
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let msg = format!(
            "{policy} makes {} STRICT, and {} have no sidecar: their plaintext calls there are reset \
             (curl exit 56, HTTP code 000; the server logs NR filter_chain_not_found)",
            list_some(&targets, 5),
            list_some(&callers, 5)
        );
        out.push(Diagnostic::new(Code::PlaintextCallerToStrict, msg, &at).with_resource(policy.to_string()));
    }
}

/// Failing calls that a policy combination causes. Clients see the same DestinationRule when they
/// sit in namespaces without a rule of their own for the host, so per service the distinct client
/// classes are: namespaces holding a matching rule, namespaces whose rules select by labels or
/// that an exportTo names, the service's and the root namespace, and one namespace standing for
/// all the others.
pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    plaintext_callers(a, out);
    let mut clients: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, w) in a.workloads.iter().enumerate().filter(|(_, w)| w.sidecar && w.workload.kind.is_client()) {
        clients.entry(w.namespace()).or_default().push(i);
    }
    if clients.is_empty() {
        return;
    }
    let root = a.mesh.root_namespace.as_str();
    let selector_ns = a.destination_rules.selector_namespaces();
    let export_named = a.destination_rules.export_named_namespaces();
    let mut grouped: BTreeMap<FailureKey, (FailedCall, BTreeSet<String>)> = BTreeMap::new();
    let mut undefined: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for svc in a.services.iter().filter(|s| !s.endpoints.is_empty()) {
        // Only the special namespaces and the first other one are visited (in namespace order, as
        // the first call found for a failure is the one reported): linear in the mesh, not
        // services × namespaces.
        let mut special = a.destination_rules.namespaces_matching(&svc.host);
        special.extend(export_named.iter().copied());
        special.extend(selector_ns.iter().copied());
        special.insert(svc.namespace.as_str());
        special.insert(root);
        let fallback = clients.keys().copied().find(|ns| !special.contains(ns));
        let mut visit: BTreeSet<&str> = special.iter().copied().filter(|ns| clients.contains_key(ns)).collect();
        visit.extend(fallback);
        let mut classes: Vec<(ClassLabel<'_>, &[usize])> = Vec::new();
        for ns in visit {
            let Some(list) = clients.get(ns) else { continue };
            if selector_ns.contains(ns) {
                classes.push((ClassLabel::Namespace(ns), list.as_slice()));
            } else if special.contains(ns) {
                classes.push((ClassLabel::Namespace(ns), list.get(..2).unwrap_or(list)));
            } else {
                classes.push((ClassLabel::EveryOther(ns), list.get(..2).unwrap_or(list)));
            }
        }
        for sp in &svc.ports {
            let subsets = crate::reach::routed_subsets(a, svc, sp.port);
            let routes: Vec<Option<&str>> =
                if subsets.is_empty() { vec![None] } else { subsets.iter().map(|s| Some(s.as_str())).collect() };
            for route in routes {
                for &ei in &svc.endpoints {
                    let Some(endpoint) = a.workloads.get(ei) else { continue };
                    for (label, list) in &classes {
                        let Some(client) = list.iter().find(|&&c| c != ei).and_then(|&c| a.workloads.get(c)) else {
                            continue;
                        };
                        if let Some(name) = route {
                            match crate::reach::subset_match(a, client, svc, name, endpoint) {
                                crate::reach::SubsetMatch::Selects => {}
                                crate::reach::SubsetMatch::Excludes => continue,
                                crate::reach::SubsetMatch::Undefined => {
                                    undefined
                                        .entry((svc.host.clone(), name.to_owned()))
                                        .or_default()
                                        .insert(label.to_string());
                                    continue;
                                }
                            }
                        }
                        let decided = crate::reach::decide(a, client, svc, sp, route, endpoint);
                        // Authorization refusals are the policy doing its job, not a TLS mistake.
                        if decided.outcome().ok() || decided.denied_by_authz() {
                            continue;
                        }
                        // Only what the finding quotes is put into words, and only for the first
                        // call of its key: the rest of the calls count their client class.
                        let (client_tls, source) = decided.client_tls();
                        let Some(code) = failure_code(&svc.host, client_tls, &source, decided.server_kind()) else {
                            continue;
                        };
                        let (to_workload, target_port) = decided.endpoint();
                        let key = (code, source, to_workload.key(), target_port);
                        let failed = || {
                            let to = format!("{}:{}", svc.host, sp.port);
                            (
                                FailedCall { to, symptom: decided.transport_symptom().unwrap_or_default() },
                                BTreeSet::new(),
                            )
                        };
                        grouped.entry(key).or_insert_with(failed).1.insert(label.to_string());
                    }
                }
            }
        }
    }
    for ((host, subset), namespaces) in undefined {
        let vs = a.resources.virtual_services.iter().find(|vs| {
            let ns = vs.meta.namespace();
            vs.destinations
                .iter()
                .any(|d| d.subset.as_deref() == Some(subset.as_str()) && resolve_host(&d.host, ns) == host)
        });
        let Some(vs) = vs else { continue };
        let names: Vec<&str> = namespaces.iter().map(String::as_str).collect();
        let msg = format!(
            "{} routes {host} to subset `{subset}`, which the DestinationRule used by sidecar clients in namespace(s) {} \
             does not define: those requests get 503 NC (no cluster)",
            vs.meta.id,
            list_some(&names, 5)
        );
        out.push(d(Code::UndefinedSubset, msg, &vs.meta.at, &vs.meta.id));
    }
    let rules =
        if grouped.is_empty() { HashMap::new() } else { first_by_id(&a.resources.destination_rules, |d| &d.meta.id) };
    for ((code, source, to_workload, target_port), (c, namespaces)) in grouped {
        let at = source_location(&rules, &source)
            .unwrap_or_else(|| a.workload(&to_workload).map(|(_, w)| w.workload.meta.at.clone()).unwrap_or_default());
        let symptom = c.symptom;
        let names: Vec<&str> = namespaces.iter().map(String::as_str).collect();
        let clients = format!("sidecar clients in namespace(s) {}", list_some(&names, 5));
        let msg = match code {
            Code::AutoMtlsNamespaceDisable => format!(
                "calls from {clients} to {} ({}) fail: the namespace/mesh PeerAuthentication of its namespace is DISABLE, \
                 so auto mTLS builds the cluster without TLS, but the workload itself is STRICT on port {}: {symptom}",
                to_workload, c.to, target_port
            ),
            Code::AutoMtlsBefore112 => format!(
                "calls from {clients} to {} port {} fail in Istio {}: auto mTLS sends Istio mTLS because it ignores \
                 workload and port DISABLE before 1.12: {symptom}",
                to_workload, target_port, a.version
            ),
            _ => format!("{source} makes calls from {clients} to {to_workload} ({}) fail: {symptom}", c.to),
        };
        out.push(Diagnostic::new(code, msg, &at));
    }
}

/// The finding a failing call's client and server settings make (`None`: no finding of this
/// pass), from the call's target host, client TLS and server mode.
fn failure_code(
    host: &str,
    client_tls: ClientTlsKind,
    source: &ClientTlsSource,
    server_mode: ServerModeKind,
) -> Option<Code> {
    // The API server has its own finding (ML0314), with the fix.
    if host.strip_prefix(crate::index::API_SERVER_HOST).is_some_and(|rest| rest.is_empty() || rest.starts_with(':')) {
        return None;
    }
    let rule_tls = matches!(source, ClientTlsSource::Rule { .. });
    let namespace_disable =
        matches!(source, ClientTlsSource::AutoMtls { decision: AutoMtls::NamespaceDisable { .. }, .. });
    Some(match (client_tls, server_mode) {
        (ClientTlsKind::Disable, ServerModeKind::Strict) if rule_tls => Code::DestinationRuleDisablesMtls,
        (ClientTlsKind::Disable, ServerModeKind::Strict) if namespace_disable => Code::AutoMtlsNamespaceDisable,
        (ClientTlsKind::IstioMutual, ServerModeKind::NoSidecar) if rule_tls => Code::IstioMutualWithoutSidecar,
        (ClientTlsKind::IstioMutual, ServerModeKind::Disable) if rule_tls => Code::IstioMutualToDisable,
        (ClientTlsKind::IstioMutual, ServerModeKind::Disable) => Code::AutoMtlsBefore112,
        (ClientTlsKind::Simple | ClientTlsKind::Mutual, ServerModeKind::Strict | ServerModeKind::Permissive) => {
            Code::UserTlsToMesh
        }
        _ => return None,
    })
}

/// The clients a finding names: a namespace, or one namespace standing for every namespace
/// that sees the service alike. Put into words only for the calls that fail.
#[derive(Debug, Clone, Copy)]
enum ClassLabel<'a> {
    Namespace(&'a str),
    EveryOther(&'a str),
}

impl std::fmt::Display for ClassLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassLabel::Namespace(ns) => f.write_str(ns),
            ClassLabel::EveryOther(ns) => {
                write!(f, "{ns} (and every other namespace without its own rule for this host)")
            }
        }
    }
}

/// (cause, client TLS source, target workload, target port).
type FailureKey = (Code, ClientTlsSource, String, u16);

/// What a finding quotes of the first failing call of its key: held per key until the findings
/// are written, so not the whole call (its explanation is most of it).
struct FailedCall {
    to: String,
    symptom: String,
}

/// The position of the DestinationRule named in a call's client TLS source (`rules`: the mesh's
/// DestinationRules by id).
fn source_location(rules: &HashMap<&ResourceId, &DestinationRule>, source: &ClientTlsSource) -> Option<Location> {
    let dr = rules.get(source.rule()?)?;
    let tls_at = dr.traffic_policy.as_ref().and_then(|tp| tp.tls.as_ref()).map(|t| t.at.clone());
    Some(tls_at.unwrap_or_else(|| dr.meta.at.clone()))
}
