//! DestinationRules: hosts that match nothing, `tls` blocks that do not do what they say,
//! subsets that select nothing, merged rules whose trafficPolicy is dropped, and ISTIO_MUTUAL
//! toward the Kubernetes API server.

use super::d;
use crate::client::resolve_host;
use crate::diagnostic::{Code, Diagnostic};
use crate::index::{Analysis, WorkloadView};
use crate::model::*;
use crate::provenance::RulePart;
use crate::report::list_some;
use crate::source::Location;
use std::collections::{BTreeMap, BTreeSet};

/// The services' hosts, for matching every rule's host in time linear in the mesh (a scan of
/// all services per rule is services × rules: minutes at 50,000 services).
struct KnownHosts<'a> {
    exact: std::collections::HashSet<&'a str>,
    /// Each host reversed, sorted: the hosts a `*.suffix` matches are one range of it.
    reversed: Vec<String>,
}

impl<'a> KnownHosts<'a> {
    fn of(a: &'a Analysis) -> Self {
        Self::new(a.services.iter().map(|s| s.host.as_str()))
    }

    fn new(hosts: impl Iterator<Item = &'a str> + Clone) -> Self {
        let exact = hosts.clone().collect();
        let mut reversed: Vec<String> = hosts.map(|h| h.chars().rev().collect()).collect();
        reversed.sort_unstable();
        Self { exact, reversed }
    }

    fn contains(&self, host: &str) -> bool {
        self.exact.contains(host)
    }

    /// [`crate::client::host_matches`] against any service: `*` matches every host, `*.suffix` every host that
    /// ends with `.suffix`, anything else only itself.
    fn matched_by(&self, rule_host: &str) -> bool {
        if rule_host == "*" {
            return !self.exact.is_empty();
        }
        match rule_host.strip_prefix('*') {
            Some(suffix) => {
                let prefix: String = suffix.chars().rev().collect();
                let from = self.reversed.partition_point(|h| h.as_str() < prefix.as_str());
                self.reversed.get(from).is_some_and(|h| h.starts_with(&prefix))
            }
            None => self.exact.contains(rule_host),
        }
    }
}

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let any_services = !a.services.is_empty();
    let known = KnownHosts::of(a);
    for dr in &a.resources.destination_rules {
        let ns = dr.meta.namespace();
        let host = resolve_host(&dr.host, ns);
        if any_services && !known.matched_by(&host) {
            let dots = dr.host.matches('.').count();
            let looks_short = !dr.host.starts_with('*')
                && (1..=2).contains(&dots)
                && !dr.host.ends_with(".local")
                && dr.host.parse::<std::net::IpAddr>().is_err();
            let candidate = format!("{}.svc.{}", dr.host, crate::index::DNS_DOMAIN);
            if looks_short
                && (known.contains(&candidate) || known.contains(&format!("{}.{}", dr.host, crate::index::DNS_DOMAIN)))
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

/// The Kubernetes API server (`kubernetes.default.svc.cluster.local:443`, in every cluster, no
/// sidecar) behind a rule that makes sidecars send Istio mTLS to it: every in-mesh controller,
/// operator and client-go user loses the API server. Reported per deciding rule whether or not the
/// input lists the `kubernetes` Service, with the fix Istio's docs give (a DISABLE rule for the
/// host); the calls themselves fail in `reach` when the Service is listed.
pub(super) fn api_server(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let host = crate::index::API_SERVER_HOST;
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
        let entry = by_rule.entry(rt.part()).or_insert_with(|| (tls.at.clone(), BTreeSet::new(), rule.host.clone()));
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

#[cfg(test)]
mod tests {
    use super::KnownHosts;
    use crate::client::host_matches;

    #[test]
    fn known_hosts_match_as_a_scan_of_every_service_does() {
        let hosts = [
            "a.ns.svc.cluster.local",
            "b.ns.svc.cluster.local",
            "a.other.svc.cluster.local",
            "api.example.com",
            "*.wild.example.org",
            "example.com",
        ];
        let known = KnownHosts::new(hosts.iter().copied());
        let rules = [
            "*",
            "*.ns.svc.cluster.local",
            "*.svc.cluster.local",
            "*.cluster.local",
            "*.example.com",
            "*example.com",
            "*.org",
            "*.wild.example.org",
            "*.nope.svc.cluster.local",
            "*s.svc.cluster.local",
            "a.ns.svc.cluster.local",
            "c.ns.svc.cluster.local",
            "example.com",
            "com",
            "",
        ];
        for rule in rules {
            let scan = hosts.iter().any(|h| host_matches(rule, h));
            assert_eq!(known.matched_by(rule), scan, "rule host {rule:?}");
        }
        assert!(!KnownHosts::new(std::iter::empty()).matched_by("*"));
    }
}
