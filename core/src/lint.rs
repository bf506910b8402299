//! Diagnostics that need the whole index: conflicts, dead selectors, wrong ports, and the
//! combinations of server and client settings that make calls fail.

use crate::diagnostic::{Code, Diagnostic};
use crate::index::Analysis;
use crate::model::ResourceId;
use crate::source::Location;

mod alpha;
mod authorization;
mod calls;
mod destination_rules;
mod gateways;
mod peer_authentication;
mod probes;
mod services;

pub fn run(a: &mut Analysis) {
    let mut out = Vec::new();
    let has_workloads = a.workloads.iter().any(|w| w.workload.kind.is_client());
    if !has_workloads
        && !a.resources.peer_authentications.is_empty()
        && let Some(first) = a.resources.peer_authentications.first()
    {
        let msg = "the input has no workloads (Deployment, Pod …): only the policies themselves are checked; \
                       add the workloads to see modes per port and who can reach whom";
        out.push(Diagnostic::new(Code::NoWorkloads, msg, &first.meta.at));
    }
    if a.read_beta {
        peer_authentication::conflicts(a, &mut out);
        peer_authentication::shapes(a, &mut out);
    }
    if a.read_alpha {
        alpha::check(a, &mut out);
    }
    destination_rules::check(a, &mut out);
    gateways::check(a, &mut out);
    authorization::check(a, &mut out);
    services::check(a, &mut out);
    destination_rules::api_server(a, &mut out);
    probes::check(a, &mut out);
    calls::check(a, &mut out);
    a.diagnostics.extend(out);
}

fn d(code: Code, msg: String, at: &Location, resource: &ResourceId) -> Diagnostic {
    Diagnostic::new(code, msg, at).with_resource(resource.to_string())
}
