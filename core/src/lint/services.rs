//! Services that select nothing or have no endpoints in the input.

use super::d;
use crate::diagnostic::{Code, Diagnostic};
use crate::index::Analysis;
use std::collections::BTreeSet;

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let selecting: BTreeSet<(&str, &str)> = a
        .services
        .iter()
        .filter(|v| !v.endpoints.is_empty())
        .map(|v| (v.namespace.as_str(), v.name.as_str()))
        .collect();
    for s in &a.resources.services {
        let ns = s.meta.namespace();
        if s.selector.is_some() && a.workloads_in(ns).next().is_some() {
            let selects = selecting.contains(&(ns, s.meta.name()));
            if !selects {
                let msg = format!("{} selects no workload in the input", s.meta.id);
                out.push(d(Code::ServiceSelectsNothing, msg, &s.meta.at, &s.meta.id));
            }
        }
        if s.selector.is_none() && !selecting.contains(&(ns, s.meta.name())) {
            let msg = format!(
                "{} has no selector and the input holds no Endpoints or EndpointSlice with addresses for it: meshlock \
                 cannot tell what its calls reach, so `reach` has no rows for it (add `kubectl get endpointslices` to \
                 the dump)",
                s.meta.id
            );
            out.push(d(Code::ServiceWithoutEndpoints, msg, &s.meta.at, &s.meta.id));
        }
    }
}
