//! kubelet probes that a STRICT port refuses.

use super::d;
use crate::diagnostic::{Code, Diagnostic};
use crate::index::Analysis;
use crate::model::*;

/// kubelet probes come from outside the mesh in plaintext. Istio rewrites HTTP probes to the
/// sidecar's agent port unless `sidecar.istio.io/rewriteAppHTTPProbers: "false"`; the rewrite is
/// on by default in every built-in profile since 1.7 (istio.io v1.7
/// ops/configuration/mesh/app-health-check; before, `values.sidecarInjectorWebhook.rewriteAppHTTPProbe`
/// had to be set).
pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    for w in a.workloads.iter().filter(|w| w.sidecar) {
        let annotation = w.workload.pod_annotations.get("sidecar.istio.io/rewriteAppHTTPProbers").map(String::as_str);
        let rewrite = match annotation {
            Some(v) => v == "true",
            None => a.version >= crate::version::IstioVersion::new(1, 7),
        };
        if rewrite {
            continue;
        }
        for probe in w.workload.probes.iter().filter(|p| p.http) {
            let port = match &probe.port {
                PortRef::Number(n) => Some(*n),
                PortRef::Name(n) => {
                    w.workload.ports.iter().find(|c| c.name.as_deref() == Some(n.as_str())).map(|c| c.port)
                }
            };
            let Some(port) = port else { continue };
            if w.server.mode_for_port(port) == Mode::Strict {
                let why = if annotation.is_some() {
                    "the pod turns probe rewriting off"
                } else {
                    "Istio before 1.7 does not rewrite probes by default"
                };
                let msg = format!(
                    "{}: the {} HTTP probe on port {port} comes from kubelet in plaintext and the port is STRICT; {why}, \
                     so the probe fails and the pod never gets ready",
                    w.key(),
                    probe.kind
                );
                out.push(d(Code::ProbeBlockedByStrict, msg, &w.workload.meta.at, &w.workload.meta.id));
            }
        }
    }
}
