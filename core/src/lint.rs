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

/// Meshes with at least this many workloads have their calls checked on a second thread (when
/// the caller allows one) beside the other checks: below it a thread costs more than it saves.
const CALLS_BESIDE_FROM: usize = 1_000;

/// Runs every check. `threads` above 1 lets [`calls::check`], the largest, run on a second thread
/// beside the others; its diagnostics are appended after theirs either way, so the result is
/// the same for any number of threads.
pub fn run(a: &mut Analysis, threads: usize) {
    let analysis: &Analysis = a;
    let (mut out, calls_out) = if threads > 1 && analysis.workloads.len() >= CALLS_BESIDE_FROM {
        std::thread::scope(|scope| {
            let calls = std::thread::Builder::new().spawn_scoped(scope, || checked_calls(analysis));
            let others = other_checks(analysis);
            let calls = match calls {
                Ok(thread) => match thread.join() {
                    Ok(calls) => calls,
                    // A panic there is a bug; it surfaces as it would on one thread.
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(_) => checked_calls(analysis),
            };
            (others, calls)
        })
    } else {
        (other_checks(analysis), checked_calls(analysis))
    };
    out.extend(calls_out);
    a.diagnostics.extend(out);
}

fn checked_calls(a: &Analysis) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    calls::check(a, &mut out);
    out
}

/// Every check but the calls'.
fn other_checks(a: &Analysis) -> Vec<Diagnostic> {
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
    out
}

fn d(code: Code, msg: String, at: &Location, resource: &ResourceId) -> Diagnostic {
    Diagnostic::new(code, msg, at).with_resource(resource.to_string())
}
