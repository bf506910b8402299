//! `explain`: the precedence story of one workload in words — its sidecar, the chain of policies
//! behind each port's mode (from [`crate::server`]) and the calls into it (from [`crate::reach`]).
//! Only prose is made here; every decision it tells was made by the modules it reads.

use crate::index::{Analysis, QueryError};
use crate::report::{ChainEntry, Effect, Explanation};
use crate::server::{Api, target_port};

fn effect_phrase(e: &ChainEntry) -> &'static str {
    match e.effect {
        Effect::Applied => "and decides",
        Effect::Overridden => "but a more specific policy replaces it",
        Effect::Inherited => "so it passes the mode above through",
        Effect::Ignored => "and is ignored",
    }
}

/// The precedence story in words, like `istioctl x describe` but complete.
pub fn explain(a: &Analysis, key: &str, port: Option<u16>) -> Result<Explanation, QueryError> {
    let (wi, w) = a.workload(key)?;
    let report = a.workload_report(w);
    let ports: Vec<u16> = match port {
        Some(p) => {
            if !w.server.ports.contains(&p) && !w.server.ports.is_empty() {
                return Err(QueryError::UnknownPort { workload: key.to_owned(), port: p });
            }
            vec![p]
        }
        None if w.server.ports.is_empty() => Vec::new(),
        None => w.server.ports.clone(),
    };
    let mut story = Vec::new();
    let api = match w.server.api {
        Api::PeerAuthentication => "PeerAuthentication (security.istio.io)",
        Api::Alpha => "the v1alpha1 MeshPolicy/Policy API",
    };
    let head = if w.sidecar {
        format!(
            "{key} ({} {}) has a sidecar ({}); Istio {} resolves its inbound mTLS from {api}. It presents {} and accepts peers from trust domain(s) {}.",
            w.workload.kind,
            w.workload.meta.name(),
            w.sidecar_reason,
            a.version,
            w.identity,
            a.trust_domains().join(", ")
        )
    } else {
        format!(
            "{key} has no sidecar ({}): nothing enforces mTLS on its ports, it accepts plaintext only, and callers whose sidecar sends Istio mTLS to it fail with 503.",
            w.sidecar_reason
        )
    };
    story.push(head);
    let gateway_servers = &report.gateway_servers;
    if !gateway_servers.is_empty() {
        let listed: Vec<String> = gateway_servers
            .iter()
            .map(|g| format!("{} port {} {} TLS {} ({}:{})", g.gateway, g.port, g.protocol, g.tls_mode, g.file, g.line))
            .collect();
        story.push(format!(
            "It is a gateway: its listeners take their TLS from Gateway servers, not from PeerAuthentication: {}.",
            listed.join("; ")
        ));
    }
    let mut port_list = ports;
    if port_list.is_empty() {
        port_list.push(0);
    }
    for p in port_list {
        let chain = if p == 0 { &w.server.chain[..] } else { w.server.chain_for_port(p) };
        let mode = if p == 0 { w.server.mode } else { w.server.mode_for_port(p) };
        let mut s = if p == 0 {
            format!("Every port: {mode}.")
        } else {
            format!("Port {p}: {}.", if w.sidecar { mode.to_string() } else { "no sidecar".to_owned() })
        };
        for e in chain {
            let at = match (&e.file, e.line) {
                (Some(f), Some(l)) => format!(" ({f}:{l})"),
                _ => String::new(),
            };
            s.push_str(&format!(
                " The {} level {}{at} declares {} {}",
                e.level,
                e.policy,
                e.declared,
                effect_phrase(e)
            ));
            if let Some(r) = &e.reason {
                s.push_str(&format!(": {r}"));
            }
            s.push('.');
        }
        if w.sidecar {
            let services: Vec<String> = a
                .services_of(wi)
                .flat_map(|svc| {
                    svc.ports
                        .iter()
                        .filter(|sp| target_port(sp, &w.workload) == Some(p))
                        .map(move |sp| format!("{}:{}", svc.host, sp.port))
                })
                .collect();
            if !services.is_empty() {
                s.push_str(&format!(" Reached as {}.", services.join(", ")));
            }
        }
        story.push(s);
    }
    if w.sidecar && !w.server.per_port.is_empty() {
        story.push(format!("Any port without its own entry gets the workload-level mode, {}.", w.server.mode));
    }
    let filter = crate::reach::ReachFilter { to_workload: Some(key.to_owned()), ..Default::default() };
    let inbound = crate::reach::calls(a, &filter).calls;
    Ok(Explanation { workload: report, story, inbound })
}
