//! PeerAuthentication: conflicts between policies of one level, and shapes Istio ignores or
//! rejects (a selector in the root namespace, port-level settings without a selector, ports no
//! workload has).

use super::d;
use crate::diagnostic::{Code, Diagnostic};
use crate::index::{Analysis, ServiceView, WorkloadView};
use crate::model::*;
use crate::server::target_port;
use crate::source::Location;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn conflicts(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let root = a.mesh.root_namespace.as_str();
    let mut selectorless: BTreeMap<&str, Vec<&PeerAuthentication>> = BTreeMap::new();
    for pa in a.resources.peer_authentications.iter().filter(|p| !p.has_selector()) {
        selectorless.entry(pa.meta.namespace()).or_default().push(pa);
    }
    for (ns, mut list) in selectorless {
        list.sort_by(|x, y| x.meta.age_key().cmp(&y.meta.age_key()));
        let Some((winner, losers)) = list.split_first() else { continue };
        let (code, what) = if ns == root {
            (Code::MeshPolicyConflict, "mesh-wide")
        } else {
            (Code::NamespacePolicyConflict, "namespace-wide")
        };
        for l in losers {
            let msg = format!(
                "{} is ignored: {} is another {what} PeerAuthentication and is older (creationTimestamp, then name); \
                 Istio keeps only the oldest (\"Namespace/mesh-level PeerAuthentication is already defined\")",
                l.meta.id, winner.meta.id
            );
            out.push(d(code, msg, &l.meta.at, &l.meta.id));
        }
    }
    // Several workload PAs on one workload: report each losing PA once, naming the workloads.
    let mut losers: BTreeMap<ResourceId, (Location, String, BTreeSet<String>)> = BTreeMap::new();
    for w in &a.workloads {
        if w.namespace() == root {
            continue;
        }
        let mut matching: Vec<&PeerAuthentication> = a
            .peer_authentications_in(w.namespace())
            .filter(|p| p.has_selector())
            .filter(|p| p.selector.as_ref().is_some_and(|s| s.matches(w.labels())))
            .collect();
        matching.sort_by(|x, y| x.meta.age_key().cmp(&y.meta.age_key()));
        let Some((winner, rest)) = matching.split_first() else { continue };
        for l in rest {
            let e = losers
                .entry(l.meta.id.clone())
                .or_insert_with(|| (l.meta.at.clone(), winner.meta.id.to_string(), BTreeSet::new()));
            e.2.insert(w.key());
        }
    }
    for (id, (at, winner, ws)) in losers {
        let list: Vec<String> = ws.into_iter().collect();
        let msg = format!(
            "{id} is ignored for {}: {winner} also selects it and is older; Istio uses only the oldest workload policy, \
             including its portLevelMtls (they are not merged)",
            list.join(", ")
        );
        out.push(d(Code::WorkloadPolicyConflict, msg, &at, &id));
    }
}

pub(super) fn shapes(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let root = a.mesh.root_namespace.as_str();
    let any_workloads = !a.workloads.is_empty();
    // Selector-less PAs that lose to an older one in their namespace (reported as ML0101/0102).
    let shadowed = |pa: &PeerAuthentication| {
        !pa.has_selector()
            && a.peer_authentications_in(pa.meta.namespace())
                .any(|o| !o.has_selector() && o.meta.age_key() < pa.meta.age_key())
    };
    for pa in &a.resources.peer_authentications {
        let ns = pa.meta.namespace();
        if pa.has_selector() && ns == root {
            let msg = format!(
                "{} has a selector but lives in the root namespace `{root}`: Istio ignores it for sidecars \
                 (\"PeerAuthentication policies with workload selectors are ignored when deployed in the root namespace\"). \
                 Move it to the workload's namespace",
                pa.meta.id
            );
            out.push(d(Code::RootNamespaceSelector, msg, &pa.meta.at, &pa.meta.id));
        }
        if pa.port_level_present && !pa.has_selector() {
            let msg = format!(
                "{} has portLevelMtls but no workload selector: Istio's validation rejects it (\"mesh/namespace peer \
                 authentication cannot have port level mTLS\") and only a workload policy's port entries are ever read",
                pa.meta.id
            );
            out.push(d(Code::PortLevelWithoutSelector, msg, &pa.meta.at, &pa.meta.id));
        }
        if pa.port_level_present && pa.port_level.is_empty() {
            let msg = format!("{}: portLevelMtls, if defined, must have at least one element", pa.meta.id);
            out.push(d(Code::PortLevelInvalid, msg, &pa.meta.at, &pa.meta.id));
        }
        let sets_permissive =
            pa.mode == DeclaredMode::Permissive || pa.port_level.values().any(|p| p.mode == DeclaredMode::Permissive);
        if sets_permissive && !shadowed(pa) && !(pa.has_selector() && ns == root) {
            let msg = format!(
                "{} keeps PERMISSIVE: the workloads it covers still accept plaintext. When every caller has a sidecar, \
                 switch it to STRICT (meshlock diff shows which calls would break)",
                pa.meta.id
            );
            out.push(d(Code::PermissiveLeftOn, msg, &pa.meta.at, &pa.meta.id));
        }
        if !pa.has_selector() || ns == root {
            continue;
        }
        let selected: Vec<(usize, &WorkloadView)> =
            a.workloads_in(ns).filter(|(_, w)| pa.selector.as_ref().is_some_and(|s| s.matches(w.labels()))).collect();
        if selected.is_empty() && any_workloads {
            let sel = pa.selector.as_ref().map(ToString::to_string).unwrap_or_default();
            let msg = format!(
                "{}: the selector {sel} matches no workload in namespace {ns}; the policy has no effect",
                pa.meta.id
            );
            out.push(d(Code::SelectorMatchesNothing, msg, &pa.meta.at, &pa.meta.id));
        }
        for (&port, pm) in &pa.port_level {
            for &(wi, w) in &selected {
                port_level_port(a, pa, port, &pm.at, (wi, w), out);
            }
        }
    }
}

/// The classic mistake: portLevelMtls keyed by the Service port instead of the container port.
fn port_level_port(
    a: &Analysis,
    pa: &PeerAuthentication,
    port: u32,
    at: &Location,
    (wi, w): (usize, &WorkloadView),
    out: &mut Vec<Diagnostic>,
) {
    let container: Vec<u32> = w.workload.ports.iter().map(|p| u32::from(p.port)).collect();
    let mut targets: Vec<(u32, u32, &ServiceView)> = Vec::new();
    for svc in a.services_of(wi) {
        for sp in &svc.ports {
            if let Some(tp) = target_port(sp, &w.workload) {
                targets.push((u32::from(sp.port), u32::from(tp), svc));
            }
        }
    }
    if container.contains(&port) || targets.iter().any(|(_, tp, _)| *tp == port) {
        return;
    }
    if let Some((sport, tp, svc)) = targets.iter().find(|(sp, tp, _)| *sp == port && tp != sp) {
        let msg = format!(
            "{}: portLevelMtls names {port}, which is the Service port of {}; Istio keys portLevelMtls by the workload \
             (container) port, so this entry should say {tp} — as written it does not cover the traffic to {}:{sport}",
            pa.meta.id, svc.name, svc.host
        );
        out.push(d(Code::PortLevelServicePort, msg, at, &pa.meta.id));
    } else if !container.is_empty() || !targets.is_empty() {
        let known: Vec<String> = container
            .iter()
            .chain(targets.iter().map(|(_, tp, _)| tp))
            .map(ToString::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let msg = format!(
            "{}: portLevelMtls names port {port}, but {} declares only {}; Istio builds a pass-through chain for it, \
             which matters only if the app really listens there",
            pa.meta.id,
            w.key(),
            known.join(", ")
        );
        out.push(d(Code::PortLevelUnknownPort, msg, at, &pa.meta.id));
    }
}
