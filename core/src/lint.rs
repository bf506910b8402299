//! Diagnostics that need the whole index: conflicts, dead selectors, wrong ports, and the
//! combinations of server and client settings that make calls fail.

use crate::analysis::{Analysis, ServiceView, WorkloadView};
use crate::client::{host_matches, resolve_host};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::*;
use crate::provenance::{AutoMtls, ClientTlsSource, PolicyRef, RulePart};
use crate::report::{Call, ClientTlsKind, ServerModeKind, list_some};
use crate::server::{alpha_usable, target_port};
use crate::source::Location;
use std::collections::{BTreeMap, BTreeSet};

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
        peer_authentication_conflicts(a, &mut out);
        peer_authentication_shapes(a, &mut out);
    }
    if a.read_alpha {
        alpha_policies(a, &mut out);
    }
    destination_rules(a, &mut out);
    gateways(a, &mut out);
    authorization(a, &mut out);
    services(a, &mut out);
    api_server(a, &mut out);
    probes(a, &mut out);
    calls(a, &mut out);
    a.diagnostics.extend(out);
}

fn d(code: Code, msg: String, at: &Location, resource: &ResourceId) -> Diagnostic {
    Diagnostic::new(code, msg, at).with_resource(resource.to_string())
}

fn peer_authentication_conflicts(a: &Analysis, out: &mut Vec<Diagnostic>) {
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

fn peer_authentication_shapes(a: &Analysis, out: &mut Vec<Diagnostic>) {
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
        let selected: Vec<&WorkloadView> = a
            .workloads_in(ns)
            .map(|(_, w)| w)
            .filter(|w| pa.selector.as_ref().is_some_and(|s| s.matches(w.labels())))
            .collect();
        if selected.is_empty() && any_workloads {
            let sel = pa.selector.as_ref().map(ToString::to_string).unwrap_or_default();
            let msg = format!(
                "{}: the selector {sel} matches no workload in namespace {ns}; the policy has no effect",
                pa.meta.id
            );
            out.push(d(Code::SelectorMatchesNothing, msg, &pa.meta.at, &pa.meta.id));
        }
        for (&port, pm) in &pa.port_level {
            for w in &selected {
                port_level_port(a, pa, port, &pm.at, w, out);
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
    w: &WorkloadView,
    out: &mut Vec<Diagnostic>,
) {
    let Some(wi) = a.workloads.iter().position(|x| std::ptr::eq(x, w)) else { return };
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

fn alpha_policies(a: &Analysis, out: &mut Vec<Diagnostic>) {
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

fn known_host(a: &Analysis, host: &str) -> bool {
    a.services.iter().any(|s| host_matches(host, &s.host))
}

fn destination_rules(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let any_services = !a.services.is_empty();
    for dr in &a.resources.destination_rules {
        let ns = dr.meta.namespace();
        let host = resolve_host(&dr.host, ns);
        if any_services && !known_host(a, &host) {
            let dots = dr.host.matches('.').count();
            let looks_short = !dr.host.starts_with('*')
                && (1..=2).contains(&dots)
                && !dr.host.ends_with(".local")
                && dr.host.parse::<std::net::IpAddr>().is_err();
            let candidate = format!("{}.svc.{}", dr.host, crate::analysis::DNS_DOMAIN);
            if looks_short
                && a.services
                    .iter()
                    .any(|s| s.host == candidate || s.host == format!("{}.{}", dr.host, crate::analysis::DNS_DOMAIN))
            {
                let msg = format!(
                    "{}: host `{}` has a dot, so Istio takes it as a fully qualified name and does not expand it; \
                     it matches nothing. Write `{candidate}` (or the short name in the service's namespace)",
                    dr.meta.id, dr.host
                );
                out.push(d(Code::DestinationRuleHostNotFqdn, msg, &dr.host_at, &dr.meta.id));
            } else {
                let expanded = if dr.host.contains('.') || dr.host.starts_with('*') {
                    String::new()
                } else {
                    format!(" (read as `{host}`: short names resolve in the rule's namespace, not the service's)")
                };
                let msg =
                    format!("{}: host `{}`{expanded} matches no service in the input (IST0174)", dr.meta.id, dr.host);
                out.push(d(Code::DestinationRuleHostUnknown, msg, &dr.host_at, &dr.meta.id));
            }
        }
        let policies = dr.traffic_policy.iter().chain(dr.subsets.iter().filter_map(|s| s.traffic_policy.as_ref()));
        let tls_blocks: Vec<&ClientTls> =
            policies.flat_map(|tp| tp.tls.iter().chain(tp.port_level.iter().filter_map(|p| p.tls.as_ref()))).collect();
        for tls in tls_blocks {
            if tls.mode_omitted {
                let msg = format!(
                    "{}: a `tls` block without `mode` means DISABLE (the enum's zero value): this rule sends plaintext, \
                     a classic cause of 503s against STRICT servers",
                    dr.meta.id
                );
                out.push(d(Code::TlsWithoutMode, msg, &tls.at, &dr.meta.id));
            }
            let verifies_server = tls.ca_certificates
                || tls.insecure_skip_verify
                || (tls.credential_name && dr.workload_selector.is_some());
            let ignored_by_sidecars = matches!(tls.mode, TlsMode::Simple | TlsMode::Mutual)
                && tls.credential_secret
                && dr.workload_selector.is_none();
            if ignored_by_sidecars {
                // Origination never happens in a sidecar here, so the warnings that assume it
                // (no caCertificates) would mislead; istioctl's IST0128 still fires.
                let msg = format!(
                    "{}: {} with credentialName and no workloadSelector: sidecars build no TLS context for host {} \
                     and send plaintext (only gateways originate TLS with the Secret); add a workloadSelector to \
                     originate from selected sidecars (istioctl reports IST0128 here)",
                    dr.meta.id, tls.mode, dr.host
                );
                out.push(d(Code::CredentialIgnoredBySidecars, msg, &tls.at, &dr.meta.id));
            } else if matches!(tls.mode, TlsMode::Simple | TlsMode::Mutual) && !verifies_server {
                let msg = format!(
                    "{}: TLS mode {} has no caCertificates to verify the server's certificate for host {} (IST0128)",
                    dr.meta.id, tls.mode, dr.host
                );
                out.push(d(Code::NoCaCertificates, msg, &tls.at, &dr.meta.id));
            }
            if tls.mode == TlsMode::Mutual && !tls.client_certificate && !tls.credential_name {
                let msg = format!(
                    "{}: MUTUAL needs clientCertificate and privateKey (or credentialName); the cluster is rejected",
                    dr.meta.id
                );
                out.push(d(Code::MutualWithoutCertificate, msg, &tls.at, &dr.meta.id));
            }
        }
        for s in &dr.subsets {
            let endpoints: Vec<&WorkloadView> = a
                .services
                .iter()
                .filter(|svc| svc.host == host)
                .flat_map(|svc| svc.endpoints.iter().filter_map(|&i| a.workloads.get(i)))
                .collect();
            if !endpoints.is_empty() && !endpoints.iter().any(|w| crate::model::selects(&s.labels, w.labels())) {
                let msg = format!(
                    "{}: subset `{}` selects no pods of {host}; requests routed to it get 503 UH (IST0173)",
                    dr.meta.id, s.name
                );
                out.push(d(Code::SubsetSelectsNothing, msg, &s.at, &dr.meta.id));
            }
        }
    }
    for m in a.destination_rules.rules() {
        if m.members.len() < 2 {
            continue;
        }
        let with_policy: Vec<&DestinationRule> = a
            .resources
            .destination_rules
            .iter()
            .filter(|dr| m.members.contains(&dr.meta.id) && dr.traffic_policy.is_some())
            .collect();
        let Some((_, winner)) = &m.traffic_policy else { continue };
        for dr in with_policy {
            if dr.meta.id != *winner {
                let msg = format!(
                    "{}: several DestinationRules for host {} in namespace {} are merged; only the oldest trafficPolicy \
                     ({winner}) is used and this one's is dropped",
                    dr.meta.id, m.host, m.namespace
                );
                out.push(d(Code::DestinationRuleMerged, msg, &dr.meta.at, &dr.meta.id));
            }
        }
    }
}

fn gateways(a: &Analysis, out: &mut Vec<Diagnostic>) {
    for gw in &a.resources.gateways {
        if !a.workloads.is_empty()
            && !gw.selector.is_empty()
            && !a.workloads.iter().any(|w| crate::model::selects(&gw.selector, w.labels()))
        {
            let sel: Vec<String> = gw.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let msg =
                format!("{}: the selector {} matches no gateway workload in the input", gw.meta.id, sel.join(","));
            out.push(d(Code::SelectorMatchesNothing, msg, &gw.meta.at, &gw.meta.id));
        }
        for s in &gw.servers {
            let tls_protocol = matches!(s.protocol.as_str(), "HTTPS" | "TLS");
            let Some(tls) = &s.tls else {
                if tls_protocol {
                    let msg = format!(
                        "{}: server on port {} has protocol {} but no `tls` settings",
                        gw.meta.id, s.port, s.protocol
                    );
                    out.push(d(Code::GatewayTlsMissing, msg, &s.at, &gw.meta.id));
                }
                continue;
            };
            if !tls_protocol {
                if !(s.protocol == "HTTP" && tls.https_redirect && !tls.has_cert_fields) {
                    let msg = format!(
                        "{}: server on port {} ({}) has TLS settings; only HTTPS and TLS servers take them (an HTTP server may only set httpsRedirect)",
                        gw.meta.id, s.port, s.protocol
                    );
                    out.push(d(Code::GatewayTlsOnHttp, msg, &s.at, &gw.meta.id));
                }
                continue;
            }
            match tls.mode {
                GatewayTlsMode::IstioMutual if tls.has_cert_fields => {
                    let msg = format!(
                        "{}: ISTIO_MUTUAL on port {} uses the gateway's Istio certificate; certificate fields must be empty",
                        gw.meta.id, s.port
                    );
                    out.push(d(Code::GatewayIstioMutualFields, msg, &s.at, &gw.meta.id));
                }
                GatewayTlsMode::Simple | GatewayTlsMode::Mutual | GatewayTlsMode::OptionalMutual
                    if !tls.has_credential =>
                {
                    let msg = format!(
                        "{}: {} on port {} needs credentialName or serverCertificate and privateKey",
                        gw.meta.id, tls.mode, s.port
                    );
                    out.push(d(Code::GatewayCredentialMissing, msg, &s.at, &gw.meta.id));
                }
                GatewayTlsMode::Mutual | GatewayTlsMode::OptionalMutual if !tls.has_ca => {
                    let msg = format!(
                        "{}: {} on port {} has no caCertificates to verify client certificates",
                        gw.meta.id, tls.mode, s.port
                    );
                    out.push(d(Code::GatewayMutualWithoutCa, msg, &s.at, &gw.meta.id));
                }
                GatewayTlsMode::Passthrough | GatewayTlsMode::AutoPassthrough if tls.has_cert_fields => {
                    let msg = format!(
                        "{}: {} on port {} does not terminate TLS; its certificates are ignored",
                        gw.meta.id, tls.mode, s.port
                    );
                    out.push(d(Code::GatewayPassthroughCerts, msg, &s.at, &gw.meta.id));
                }
                _ => {}
            }
        }
    }
}

fn authorization(a: &Analysis, out: &mut Vec<Diagnostic>) {
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
        let mut weak: Vec<String> = Vec::new();
        for w in a.workloads.iter().filter(|w| {
            (w.namespace() == ns || ns == root) && ap.selector.as_ref().is_none_or(|s| s.matches(w.labels()))
        }) {
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

fn services(a: &Analysis, out: &mut Vec<Diagnostic>) {
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

/// The Kubernetes API server (`kubernetes.default.svc.cluster.local:443`, in every cluster, no
/// sidecar) behind a rule that makes sidecars send Istio mTLS to it: every in-mesh controller,
/// operator and client-go user loses the API server. Reported per deciding rule whether or not the
/// input lists the `kubernetes` Service, with the fix Istio's docs give (a DISABLE rule for the
/// host); the calls themselves fail in `reach` when the Service is listed.
fn api_server(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let host = crate::analysis::API_SERVER_HOST;
    let listed = a.services.iter().any(|s| s.host == host);
    // deciding rule part → (where its tls is, client namespaces)
    let mut by_rule: BTreeMap<RulePart, (Location, BTreeSet<&str>, String)> = BTreeMap::new();
    let mut seen: BTreeSet<(&str, Option<&ResourceId>)> = BTreeSet::new();
    for w in a.workloads.iter().filter(|w| w.sidecar && w.workload.kind.is_client()) {
        let Some(rule) = a.destination_rules.lookup(w.namespace(), w.labels(), host, "default") else {
            continue;
        };
        if !seen.insert((w.namespace(), rule.first_member())) {
            continue;
        }
        let rt = crate::client::rule_tls(rule, 443, None);
        let Some(tls) = rt.tls.filter(|t| t.mode == TlsMode::IstioMutual) else { continue };
        let entry = by_rule.entry(rt.part).or_insert_with(|| (tls.at.clone(), BTreeSet::new(), rule.host.clone()));
        entry.1.insert(w.namespace());
    }
    for (source, (at, namespaces, pattern)) in by_rule {
        let names: Vec<&str> = namespaces.into_iter().collect();
        let unlisted = if listed {
            ""
        } else {
            " (the input does not list the `kubernetes` Service in `default`; it exists in every cluster)"
        };
        let msg = format!(
            "{source} sets ISTIO_MUTUAL for `{pattern}`, which covers the Kubernetes API server {host}:443{unlisted}: \
             sidecars in namespace(s) {} wrap their API calls in Istio mTLS, which the API server (no sidecar) cannot \
             terminate, so in-mesh controllers and kubectl/client-go calls fail. Add a DestinationRule for host {host} \
             with trafficPolicy.tls.mode: DISABLE",
            list_some(&names, 5)
        );
        out.push(d(Code::IstioMutualToApiServer, msg, &at, &source.rule));
    }
}

/// kubelet probes come from outside the mesh in plaintext. Istio rewrites HTTP probes to the
/// sidecar's agent port unless `sidecar.istio.io/rewriteAppHTTPProbers: "false"`; the rewrite is
/// on by default in every built-in profile since 1.7 (istio.io v1.7
/// ops/configuration/mesh/app-health-check; before, `values.sidecarInjectorWebhook.rewriteAppHTTPProbe`
/// had to be set).
fn probes(a: &Analysis, out: &mut Vec<Diagnostic>) {
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
    let mut by_policy: BTreeMap<PolicyRef, (Location, BTreeSet<String>)> = BTreeMap::new();
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
                let policy = decider.map_or(PolicyRef::BuiltIn, |e| e.policy.clone());
                let at = decider
                    .and_then(|e| Some(Location::new(e.file.clone()?, e.line?, 1)))
                    .unwrap_or_else(|| w.workload.meta.at.clone());
                let entry = by_policy.entry(policy).or_insert_with(|| (at, BTreeSet::new()));
                entry.1.insert(format!("{}:{port}", w.key()));
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
fn calls(a: &Analysis, out: &mut Vec<Diagnostic>) {
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
    let mut grouped: BTreeMap<FailureKey, (Call, BTreeSet<String>)> = BTreeMap::new();
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
        let mut classes: Vec<(String, &[usize])> = Vec::new();
        for ns in visit {
            let Some(list) = clients.get(ns) else { continue };
            if selector_ns.contains(ns) {
                classes.push((ns.to_owned(), list.as_slice()));
            } else if special.contains(ns) {
                classes.push((ns.to_owned(), list.get(..2).unwrap_or(list)));
            } else {
                let label = format!("{ns} (and every other namespace without its own rule for this host)");
                classes.push((label, list.get(..2).unwrap_or(list)));
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
                                        .insert(label.clone());
                                    continue;
                                }
                            }
                        }
                        let evaluated = crate::reach::evaluate(a, client, svc, sp, route, endpoint);
                        // Authorization refusals are the policy doing its job, not a TLS mistake.
                        if evaluated.call.outcome.ok() || evaluated.denied_by_authz {
                            continue;
                        }
                        let call = evaluated.call;
                        let Some(code) = failure_code(&call) else { continue };
                        let key = (code, call.client_tls_source.clone(), call.to_workload.clone(), call.target_port);
                        grouped.entry(key).or_insert_with(|| (call, BTreeSet::new())).1.insert(label.clone());
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
    for ((code, _, _, _), (c, namespaces)) in grouped {
        let at = source_location(a, &c)
            .unwrap_or_else(|| a.workload(&c.to_workload).map(|(_, w)| w.workload.meta.at.clone()).unwrap_or_default());
        let symptom = c.symptom.clone().unwrap_or_default();
        let names: Vec<&str> = namespaces.iter().map(String::as_str).collect();
        let clients = format!("sidecar clients in namespace(s) {}", list_some(&names, 5));
        let msg = match code {
            Code::AutoMtlsNamespaceDisable => format!(
                "calls from {clients} to {} ({}) fail: the namespace/mesh PeerAuthentication of its namespace is DISABLE, \
                 so auto mTLS builds the cluster without TLS, but the workload itself is STRICT on port {}: {symptom}",
                c.to_workload, c.to, c.target_port
            ),
            Code::AutoMtlsBefore112 => format!(
                "calls from {clients} to {} port {} fail in Istio {}: auto mTLS sends Istio mTLS because it ignores \
                 workload and port DISABLE before 1.12: {symptom}",
                c.to_workload, c.target_port, a.version
            ),
            _ => format!(
                "{} makes calls from {clients} to {} ({}) fail: {symptom}",
                c.client_tls_source, c.to_workload, c.to
            ),
        };
        out.push(Diagnostic::new(code, msg, &at));
    }
}

fn failure_code(c: &Call) -> Option<Code> {
    // The API server has its own finding (ML0314), with the fix.
    if c.to.strip_prefix(crate::analysis::API_SERVER_HOST).is_some_and(|rest| rest.starts_with(':')) {
        return None;
    }
    let rule_tls = matches!(c.client_tls_source, ClientTlsSource::Rule { .. });
    let namespace_disable =
        matches!(c.client_tls_source, ClientTlsSource::AutoMtls { decision: AutoMtls::NamespaceDisable { .. }, .. });
    Some(match (c.client_tls, c.server_mode) {
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

/// (cause, client TLS source, target workload, target port).
type FailureKey = (Code, ClientTlsSource, String, u16);

/// The position of the DestinationRule named in a call's client TLS source.
fn source_location(a: &Analysis, c: &Call) -> Option<Location> {
    let id = c.client_tls_source.rule()?;
    let dr = a.resources.destination_rules.iter().find(|d| d.meta.id == *id)?;
    let tls_at = dr.traffic_policy.as_ref().and_then(|tp| tp.tls.as_ref()).map(|t| t.at.clone());
    Some(tls_at.unwrap_or_else(|| dr.meta.at.clone()))
}
