//! v1alpha1 MeshPolicy and Policy (Istio 1.4 and 1.5): policies Istio's validation rejects or
//! that target nothing.

use super::d;
use crate::diagnostic::{Code, Diagnostic};
use crate::index::Analysis;
use crate::model::*;
use crate::server::alpha_usable;

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    for p in &a.resources.alpha_policies {
        if p.mesh && p.meta.name() != "default" {
            let msg =
                format!("MeshPolicy `{}` is ignored: Istio reads only the MeshPolicy named `default`", p.meta.name());
            out.push(d(Code::MeshPolicyName, msg, &p.meta.at, &p.meta.id));
            continue;
        }
        if !p.mesh && !alpha_usable(p) {
            let msg = if p.targets.is_empty() {
                format!(
                    "{} has no targets, so it is namespace-wide and must be named `default`; Istio rejects it",
                    p.meta.id
                )
            } else {
                format!(
                    "{} is named `default`, which is reserved for the namespace-wide policy and forbids targets; Istio rejects it",
                    p.meta.id
                )
            };
            out.push(d(Code::PolicyName, msg, &p.meta.at, &p.meta.id));
            continue;
        }
        for t in &p.targets {
            if t.name.contains('.') {
                let msg = format!(
                    "{}: target `{}` is not a short service name (a DNS-1123 label); Istio rejects it. Targets resolve in the policy's namespace",
                    p.meta.id, t.name
                );
                out.push(d(Code::PolicyTargetName, msg, &t.at, &p.meta.id));
                continue;
            }
            let svc =
                a.services.iter().find(|s| s.namespace == p.meta.namespace() && s.name == t.name && !s.mesh_external);
            let Some(svc) = svc else {
                if !a.resources.services.is_empty() {
                    let msg = format!(
                        "{}: target service `{}` does not exist in namespace {}",
                        p.meta.id,
                        t.name,
                        p.meta.namespace()
                    );
                    out.push(d(Code::PolicyTargetMissing, msg, &t.at, &p.meta.id));
                }
                continue;
            };
            for pr in &t.ports {
                let found = svc.ports.iter().any(|sp| match pr {
                    PortRef::Number(n) => sp.port == *n,
                    PortRef::Name(n) => sp.name.as_deref() == Some(n.as_str()),
                });
                if !found {
                    let msg = format!(
                        "{}: port {pr} could not be found for host {}, which means the Policy won't be enforced (IST0114)",
                        p.meta.id, svc.host
                    );
                    out.push(d(Code::PolicyPortNotFound, msg, &t.at, &p.meta.id));
                }
            }
        }
    }
}
