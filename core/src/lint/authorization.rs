//! AuthorizationPolicy rules that need what a connection-level check cannot see: request
//! fields, or peer identities where the peer may not use mTLS.

use super::d;
use crate::diagnostic::{Code, Diagnostic};
use crate::index::{Analysis, WorkloadView};
use crate::model::*;

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let root = a.mesh.root_namespace.clone();
    for ap in &a.resources.authorization_policies {
        let rules = ap.rules.as_deref().unwrap_or_default();
        if rules.iter().any(|r| r.http_fields || r.from.iter().any(|s| s.other_fields)) {
            let msg = format!(
                "{}: some rules use request fields (methods, paths, headers, when …) that a connection-level check cannot see; \
                 meshlock's filter treats such ALLOW rules as not matching and ignores those fields in DENY rules (Istio's TCP rule)",
                ap.meta.id
            );
            out.push(d(Code::AuthzHttpFields, msg, &ap.meta.at, &ap.meta.id));
        }
        let uses_ids = rules.iter().flat_map(|r| &r.from).any(|s| {
            !(s.principals.is_empty()
                && s.not_principals.is_empty()
                && s.namespaces.is_empty()
                && s.not_namespaces.is_empty())
        });
        if !uses_ids {
            continue;
        }
        let ns = ap.meta.namespace();
        // A policy of the root namespace is mesh-wide; any other sees its own namespace's
        // workloads, taken from the index (a scan of the mesh per policy is quadratic in a mesh
        // with a policy per workload).
        let in_scope: Vec<&WorkloadView> =
            if ns == root { a.workloads.iter().collect() } else { a.workloads_in(ns).map(|(_, w)| w).collect() };
        let mut weak: Vec<String> = Vec::new();
        for w in in_scope.into_iter().filter(|w| ap.selector.as_ref().is_none_or(|s| s.matches(w.labels()))) {
            if !w.sidecar {
                weak.push(format!("{} (no sidecar)", w.key()));
            } else if w.server.mode != Mode::Strict || w.server.per_port.values().any(|p| p.mode != Mode::Strict) {
                weak.push(format!("{} ({})", w.key(), w.server.mode));
            }
        }
        if !weak.is_empty() {
            let msg = format!(
                "{} matches on principals or namespaces, which exist only for mTLS peers, but {} do not require mTLS: \
                 plaintext callers carry no identity and are denied by ALLOW rules (KIA0105)",
                ap.meta.id,
                weak.join(", ")
            );
            out.push(d(Code::AuthzNeedsMtls, msg, &ap.meta.at, &ap.meta.id));
        }
    }
}
