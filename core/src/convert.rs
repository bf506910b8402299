//! `convert`: v1alpha1 MeshPolicy/Policy to v1beta1 PeerAuthentication, the way
//! istio-ecosystem/security-policy-migrate does (`converter/convert.go :: Convert`,
//! `targetToSelector`, `svcPortToWorkloadPort`, `convertMTLS`):
//!
//! * MeshPolicy → a selector-less PA in the root namespace, same name;
//! * a namespace Policy → a selector-less PA in its namespace;
//! * each target → its own PA `<policy>-<target>` whose selector is the Service's selector;
//!   target ports (service ports, by number or name) → `portLevelMtls` on the container port
//!   (`targetPort`; a named targetPort falls back to the service port number), with `mtls` unset;
//! * STRICT stays STRICT; anything else becomes PERMISSIVE, never DISABLE ("Do not use DISABLE
//!   mode, it seems not working with autoMTLS").

use crate::diagnostic::{Code, Diagnostic};
use crate::model::{AlphaPeerMode, AlphaPolicy, PortRef, Service};
use crate::parse::parse_sources;
use crate::source::Source;
use std::fmt::Write;

/// The converted YAML and what could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ConvertOutput {
    pub yaml: String,
    pub diagnostics: Vec<Diagnostic>,
    /// Documents that could not be parsed.
    pub unreadable: usize,
}

pub fn convert(sources: &[Source]) -> ConvertOutput {
    let parsed = parse_sources(sources);
    let mut diagnostics: Vec<Diagnostic> =
        parsed.diagnostics.into_iter().filter(|d| d.severity == crate::Severity::Error).collect();
    let res = &parsed.resources;
    let root = res.mesh_config.as_ref().map_or("istio-system", |m| m.root_namespace.as_str());
    let mut docs: Vec<String> = Vec::new();
    let mut policies: Vec<&AlphaPolicy> = res.alpha_policies.iter().collect();
    policies.sort_by(|a, b| a.meta.age_key().cmp(&b.meta.age_key()));
    for p in policies {
        let mode = match p.peer {
            AlphaPeerMode::Strict => "STRICT",
            AlphaPeerMode::Permissive | AlphaPeerMode::Disable => "PERMISSIVE",
        };
        let origin = format!("{} ({}:{})", p.meta.id, p.meta.at.file, p.meta.at.line);
        if p.has_jwt_origins {
            let msg = format!(
                "{}: JWT origins are not converted; write a RequestAuthentication and an AuthorizationPolicy",
                p.meta.id
            );
            diagnostics.push(Diagnostic::new(Code::UnknownField, msg, &p.meta.at).with_resource(p.meta.id.to_string()));
        }
        if p.mesh {
            docs.push(pa_yaml(
                &format!("converted from {origin}: mesh level policy"),
                p.meta.name(),
                root,
                None,
                Some(mode),
                &[],
            ));
            continue;
        }
        if p.targets.is_empty() {
            docs.push(pa_yaml(
                &format!("converted from {origin}: namespace level policy"),
                p.meta.name(),
                p.meta.namespace(),
                None,
                Some(mode),
                &[],
            ));
            continue;
        }
        let mut seen: Vec<&str> = Vec::new();
        for t in &p.targets {
            if seen.contains(&t.name.as_str()) {
                let msg = format!("{}: duplicate target `{}`; the converter refuses it", p.meta.id, t.name);
                diagnostics.push(Diagnostic::new(Code::InvalidField, msg, &t.at).with_resource(p.meta.id.to_string()));
                continue;
            }
            seen.push(&t.name);
            let svc = res.services.iter().find(|s| s.meta.namespace() == p.meta.namespace() && s.meta.name() == t.name);
            let Some(svc) = svc else {
                let msg = format!(
                    "{}: target service `{}` is not in the input, so its selector is unknown; add the Service to convert this target",
                    p.meta.id, t.name
                );
                diagnostics
                    .push(Diagnostic::new(Code::PolicyTargetMissing, msg, &t.at).with_resource(p.meta.id.to_string()));
                continue;
            };
            let Some(selector) = svc.selector.as_ref().filter(|s| !s.is_empty()) else {
                let msg = format!(
                    "{}: service `{}` has no selector; a workload selector cannot be derived",
                    p.meta.id, t.name
                );
                diagnostics
                    .push(Diagnostic::new(Code::PolicyTargetMissing, msg, &t.at).with_resource(p.meta.id.to_string()));
                continue;
            };
            let mut ports: Vec<(u16, String)> = Vec::new();
            for pr in &t.ports {
                match workload_port(svc, pr) {
                    Some(n) => ports.push((n, format!("service port {pr}"))),
                    None => {
                        let msg = format!("{}: port {pr} is not a port of service `{}`", p.meta.id, t.name);
                        diagnostics.push(
                            Diagnostic::new(Code::PolicyPortNotFound, msg, &t.at).with_resource(p.meta.id.to_string()),
                        );
                    }
                }
            }
            let name = format!("{}-{}", p.meta.name(), t.name);
            let comment =
                format!("converted from {origin}, target {}: service-name target becomes a workload selector", t.name);
            let top_mode = if t.ports.is_empty() { Some(mode) } else { None };
            let port_modes: Vec<(u16, &str, String)> = ports.into_iter().map(|(n, why)| (n, mode, why)).collect();
            docs.push(pa_yaml(&comment, &name, p.meta.namespace(), Some(selector), top_mode, &port_modes));
        }
    }
    ConvertOutput { yaml: docs.join("---\n"), diagnostics, unreadable: parsed.unreadable }
}

/// `svcPortToWorkloadPort`: the service port (by number or name) to its targetPort number; a
/// named targetPort falls back to the service port number.
fn workload_port(svc: &Service, pr: &PortRef) -> Option<u16> {
    let sp = svc.ports.iter().find(|sp| match pr {
        PortRef::Number(n) => sp.port == *n,
        PortRef::Name(n) => sp.name.as_deref() == Some(n.as_str()),
    })?;
    Some(match &sp.target_port {
        Some(PortRef::Number(n)) => *n,
        Some(PortRef::Name(_)) | None => sp.port,
    })
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.escape_default()))
}

fn pa_yaml(
    comment: &str,
    name: &str,
    namespace: &str,
    selector: Option<&crate::model::Labels>,
    mode: Option<&str>,
    ports: &[(u16, &str, String)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {comment}");
    s.push_str("apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata:\n");
    let _ = writeln!(s, "  name: {}\n  namespace: {}", quote(name), quote(namespace));
    s.push_str("spec:\n");
    if let Some(sel) = selector {
        s.push_str("  selector:\n    matchLabels:\n");
        for (k, v) in sel {
            let _ = writeln!(s, "      {}: {}", quote(k), quote(v));
        }
    }
    if let Some(m) = mode {
        let _ = writeln!(s, "  mtls:\n    mode: {m}");
    }
    if !ports.is_empty() {
        s.push_str("  portLevelMtls:\n");
        for (port, m, why) in ports {
            let _ = writeln!(s, "    {port}: # {why}\n      mode: {m}");
        }
    }
    s
}
