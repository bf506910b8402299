//! Client side: which DestinationRule a sidecar uses toward a service, and the TLS it sends.
//!
//! Lookup (`pilot/pkg/model/push_context.go :: destinationRule`): the client's namespace, then
//! the service's namespace, then the root namespace; inside the first namespace with any host
//! match the most specific host wins (`config.go :: MostSpecificHostMatch`); exportTo filters
//! steps 2 and 3 *after* the host is picked. No merging across namespaces.
//! Policy (`networking/util/util.go :: GetPortLevelTrafficPolicy`, `MergeSubsetTrafficPolicy`):
//! a portLevelSettings entry for the service port replaces the whole policy, tls included; a
//! subset then overrides field by field, and a subset port entry replaces everything again.

use crate::model::{ClientTls, DNS_DOMAIN, DestinationRule, Labels, ResourceId, Subset, TlsMode, TrafficPolicy};
use crate::provenance::{RulePart, TlsBlock};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// DestinationRules of one namespace merged the way `destination_rule.go :: mergeDestinationRule`
/// does: same host, equal selectors and equal exportTo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedRule {
    pub namespace: String,
    /// The host after short-name resolution against the rule's namespace.
    pub host: String,
    pub export_to: Vec<String>,
    pub selector: Option<Labels>,
    /// The top-level trafficPolicy of the oldest member that has one, with that member.
    pub traffic_policy: Option<(TrafficPolicy, ResourceId)>,
    /// Subsets of every member, each with its member; for a duplicate name the first wins.
    pub subsets: Vec<(Subset, ResourceId)>,
    /// Every member, oldest first (never empty).
    pub members: Vec<ResourceId>,
}

impl MergedRule {
    fn visible_to(&self, client_ns: &str) -> bool {
        // A workloadSelector forces the rule private (`.`).
        if self.selector.is_some() {
            return client_ns == self.namespace;
        }
        self.export_to.is_empty()
            || self.export_to.iter().any(|e| e == "*" || e == client_ns || (e == "." && client_ns == self.namespace))
    }

    /// The oldest member, which names the merged rule.
    pub fn first_member(&self) -> Option<&ResourceId> {
        self.members.first()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationRuleIndex {
    root: String,
    by_namespace: BTreeMap<String, Vec<MergedRule>>,
    /// Exact host → namespaces holding a rule for it.
    exact_hosts: HashMap<String, BTreeSet<String>>,
    /// Wildcard rules: (host, namespace).
    wildcards: Vec<(String, String)>,
}

/// The SNI a client sidecar sends with ISTIO_MUTUAL toward a service port (and subset): the
/// outbound cluster's name, `outbound_.PORT_.SUBSET_.HOST` with an empty subset when there is
/// none: Istio's `model.BuildDNSSrvSubsetKey` in the outbound direction, the `istioMtlsSni` its
/// cluster builder puts on auto and ISTIO_MUTUAL TLS.
pub fn istio_mutual_sni(port: u16, subset: Option<&str>, host: &str) -> String {
    format!("outbound_.{port}_.{}_.{host}", subset.unwrap_or(""))
}

/// `config.go :: ResolveShortnameToFQDN`: `*` and IPs stay; a host without a dot becomes
/// `<host>.<rule namespace>.svc.cluster.local`; any host with a dot is taken as an FQDN.
pub fn resolve_host(host: &str, namespace: &str) -> String {
    if host == "*" || host.contains('.') || host.contains(':') || host.parse::<std::net::IpAddr>().is_ok() {
        return host.to_owned();
    }
    format!("{host}.{namespace}.svc.{DNS_DOMAIN}")
}

/// Whether a rule host (exact or `*`-wildcard) matches a service host.
pub fn host_matches(rule_host: &str, service_host: &str) -> bool {
    if rule_host == "*" {
        return true;
    }
    match rule_host.strip_prefix('*') {
        Some(suffix) => service_host.ends_with(suffix),
        None => rule_host == service_host,
    }
}

/// Specificity: an exact host beats every wildcard; a longer wildcard beats a shorter one.
fn specificity(rule_host: &str) -> (bool, usize) {
    (!rule_host.starts_with('*'), rule_host.len())
}

impl DestinationRuleIndex {
    pub fn build(rules: &[DestinationRule], root: &str) -> Self {
        let mut sorted: Vec<&DestinationRule> = rules.iter().collect();
        // `sortConfigBySelectorAndCreationTime`: rules with a workloadSelector first, then age.
        sorted.sort_by(|a, b| {
            (a.workload_selector.is_none(), a.meta.age_key()).cmp(&(b.workload_selector.is_none(), b.meta.age_key()))
        });
        let mut by_namespace: BTreeMap<String, Vec<MergedRule>> = BTreeMap::new();
        for dr in sorted {
            let ns = dr.meta.namespace().to_owned();
            let host = resolve_host(&dr.host, &ns);
            let mut export_to = dr.export_to.clone();
            export_to.sort();
            let name = dr.meta.id.clone();
            let list = by_namespace.entry(ns.clone()).or_default();
            let existing = list
                .iter_mut()
                .find(|m| m.host == host && m.selector == dr.workload_selector && m.export_to == export_to);
            let merged = match existing {
                Some(m) => m,
                None => {
                    list.push(MergedRule {
                        namespace: ns.clone(),
                        host,
                        export_to,
                        selector: dr.workload_selector.clone(),
                        traffic_policy: None,
                        subsets: Vec::new(),
                        members: Vec::new(),
                    });
                    let Some(last) = list.last_mut() else {
                        continue;
                    };
                    last
                }
            };
            merged.members.push(name.clone());
            if merged.traffic_policy.is_none()
                && let Some(tp) = &dr.traffic_policy
            {
                merged.traffic_policy = Some((tp.clone(), name.clone()));
            }
            for s in &dr.subsets {
                if !merged.subsets.iter().any(|(x, _)| x.name == s.name) {
                    merged.subsets.push((s.clone(), name.clone()));
                }
            }
        }
        let mut exact_hosts: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut wildcards = Vec::new();
        for m in by_namespace.values().flatten() {
            if m.host.starts_with('*') {
                wildcards.push((m.host.clone(), m.namespace.clone()));
            } else {
                exact_hosts.entry(m.host.clone()).or_default().insert(m.namespace.clone());
            }
        }
        Self { root: root.to_owned(), by_namespace, exact_hosts, wildcards }
    }

    /// Namespaces that hold a rule whose host matches `service_host`.
    pub fn namespaces_matching(&self, service_host: &str) -> BTreeSet<&str> {
        let mut out: BTreeSet<&str> =
            self.exact_hosts.get(service_host).into_iter().flatten().map(String::as_str).collect();
        out.extend(self.wildcards.iter().filter(|(h, _)| host_matches(h, service_host)).map(|(_, ns)| ns.as_str()));
        out
    }

    /// Namespaces named explicitly in some rule's exportTo (their view can differ from others').
    pub fn export_named_namespaces(&self) -> BTreeSet<&str> {
        self.rules().flat_map(|m| m.export_to.iter()).filter(|e| *e != "*" && *e != ".").map(String::as_str).collect()
    }

    /// Namespaces holding a rule with a workloadSelector (clients there differ by labels).
    pub fn selector_namespaces(&self) -> BTreeSet<&str> {
        self.rules().filter(|m| m.selector.is_some()).map(|m| m.namespace.as_str()).collect()
    }

    /// Whether two indexes differ at most in TLS settings: the same rules for the same hosts,
    /// with the same visibility, selectors and subsets. Reach's client classes and routed
    /// subsets depend on nothing else of the rules, so such indexes class clients alike.
    pub fn same_shape(&self, other: &Self) -> bool {
        let same = |a: &MergedRule, b: &MergedRule| {
            a.namespace == b.namespace
                && a.host == b.host
                && a.export_to == b.export_to
                && a.selector == b.selector
                && a.members == b.members
                && a.subsets.len() == b.subsets.len()
                && a.subsets.iter().zip(&b.subsets).all(|((x, _), (y, _))| x.name == y.name && x.labels == y.labels)
        };
        self.root == other.root
            && self.rules().count() == other.rules().count()
            && self.rules().zip(other.rules()).all(|(a, b)| same(a, b))
    }

    pub fn rules(&self) -> impl Iterator<Item = &MergedRule> {
        self.by_namespace.values().flatten()
    }

    /// The rule a client in `client_ns` (with pod labels) uses toward `service_host` of a
    /// service in `service_ns`.
    pub fn lookup(
        &self,
        client_ns: &str,
        client_labels: &Labels,
        service_host: &str,
        service_ns: &str,
    ) -> Option<&MergedRule> {
        // Each step looks at its namespace's few rules twice (the most specific host, then the
        // rule for it) rather than collecting them: this runs once per call decided.
        // 1. The client's own namespace: everything visible there, selector rules only when they
        //    select the client (`SidecarScope.DestinationRule`).
        if let Some(list) = self.by_namespace.get(client_ns) {
            let candidate = |m: &&MergedRule| {
                m.visible_to(client_ns)
                    && host_matches(&m.host, service_host)
                    && m.selector.as_ref().is_none_or(|sel| crate::model::selects(sel, client_labels))
            };
            if let Some(best) = most_specific(list.iter().filter(candidate)) {
                // For that host, a rule selecting the client before one for the whole namespace,
                // the oldest first within each.
                let mut for_best = list.iter().filter(candidate).filter(|m| m.host == best);
                let chosen = for_best.clone().find(|m| m.selector.is_some()).or_else(|| for_best.next());
                if chosen.is_some() {
                    return chosen;
                }
            }
        }
        // 2. and 3. The service's namespace, then the root namespace: the most specific host
        //    among rules that are not private, *then* the exportTo check.
        let root = (self.root != service_ns).then_some(self.root.as_str());
        for ns in [Some(service_ns), root].into_iter().flatten() {
            if ns == client_ns {
                continue;
            }
            let Some(list) = self.by_namespace.get(ns) else {
                continue;
            };
            let candidate =
                |m: &&MergedRule| m.selector.is_none() && m.export_to != ["."] && host_matches(&m.host, service_host);
            let Some(best) = most_specific(list.iter().filter(candidate)) else {
                continue;
            };
            if let Some(m) = list.iter().filter(candidate).find(|m| m.host == best && m.visible_to(client_ns)) {
                return Some(m);
            }
        }
        None
    }
}

/// The most specific host among `candidates`; of equals, the last.
fn most_specific<'r>(candidates: impl Iterator<Item = &'r MergedRule>) -> Option<&'r str> {
    candidates.max_by_key(|m| specificity(&m.host)).map(|m| m.host.as_str())
}

/// The TLS settings a rule gives for a service port and subset, and where they came from
/// (borrowed from the rule: [`RuleTls::part`] copies the place out when a caller keeps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTls<'r> {
    /// `None`: the rule leaves TLS unset, so auto mTLS decides.
    pub tls: Option<&'r ClientTls>,
    /// The member rule whose policy decided: the one holding `block`, or the oldest member of
    /// the merged rule when none has a trafficPolicy.
    pub rule: &'r ResourceId,
    /// The block of it whose `tls` decided; `None`: the rule has no trafficPolicy at all.
    pub block: Option<TlsBlock>,
}

impl RuleTls<'_> {
    /// The member rule and block that decided.
    pub fn part(&self) -> RulePart {
        RulePart { rule: self.rule.clone(), block: self.block.clone() }
    }
}

/// The SANs an ISTIO_MUTUAL DestinationRule puts in place of the service's identities: its
/// `subjectAltNames` when it lists any (the cluster's SAN matcher is built from the rule's list
/// when it has one, `pilot/pkg/networking/core/cluster_tls.go :: buildUpstreamTLSSettings`).
pub fn rule_sans(tls: &ClientTls) -> Option<&[String]> {
    match (tls.mode, tls.subject_alt_names.as_deref()) {
        (TlsMode::IstioMutual, Some(sans)) if !sans.is_empty() => Some(sans),
        _ => None,
    }
}

/// Secure naming, decided in one place for `reach`, the compiler and so the filter: the SANs a
/// client's sidecar accepts from an upstream it reaches with Istio mTLS (ISTIO_MUTUAL or auto
/// mTLS) — the rule's SANs ([`rule_sans`]) when it has them, otherwise the identities the
/// service may run as, alias-expanded. Empty: any certificate chained to the mesh root is
/// accepted, as Envoy does with no SAN matcher.
pub fn accepted_sans<'a>(rule_sans: Option<&'a [String]>, service_identities: &'a [String]) -> &'a [String] {
    rule_sans.unwrap_or(service_identities)
}

/// Resolves the rule's TLS for a service port and an optional subset.
pub fn rule_tls<'r>(rule: &'r MergedRule, service_port: u16, subset: Option<&str>) -> RuleTls<'r> {
    let port = u32::from(service_port);
    let (mut tls, mut from) = match &rule.traffic_policy {
        Some((tp, name)) => match tp.port_level.iter().find(|pl| pl.port == port) {
            // The port entry replaces the whole policy: an entry without tls means tls = nil.
            Some(pl) => (pl.tls.as_ref(), (name, Some(TlsBlock::Port(port)))),
            None => (tp.tls.as_ref(), (name, Some(TlsBlock::Top))),
        },
        None => (None, (rule.first_member().unwrap_or(&NO_RULE), None)),
    };
    if let Some((s, name)) = subset.and_then(|want| rule.subsets.iter().find(|(s, _)| s.name == want))
        && let Some(stp) = &s.traffic_policy
    {
        if let Some(t) = &stp.tls {
            tls = Some(t);
            from = (name, Some(TlsBlock::Subset(s.name.clone())));
        }
        if let Some(pl) = stp.port_level.iter().find(|pl| pl.port == port) {
            tls = pl.tls.as_ref();
            from = (name, Some(TlsBlock::SubsetPort(s.name.clone(), port)));
        }
    }
    RuleTls { tls, rule: from.0, block: from.1 }
}

/// A merged rule has at least one member; this stands in should one ever have none.
static NO_RULE: ResourceId = ResourceId { kind: String::new(), namespace: String::new(), name: String::new() };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_resolution() {
        assert_eq!(resolve_host("reviews", "foo"), "reviews.foo.svc.cluster.local");
        assert_eq!(resolve_host("reviews.default", "foo"), "reviews.default");
        assert_eq!(resolve_host("*", "foo"), "*");
        assert_eq!(resolve_host("*.local", "foo"), "*.local");
        assert_eq!(resolve_host("10.0.0.1", "foo"), "10.0.0.1");
    }

    #[test]
    fn wildcard_matching_and_specificity() {
        assert!(host_matches("*.local", "a.b.svc.cluster.local"));
        assert!(host_matches("*", "x"));
        assert!(!host_matches("*.foo.svc.cluster.local", "a.bar.svc.cluster.local"));
        assert!(specificity("a.b") > specificity("*.very.long.wildcard.host"));
        assert!(specificity("*.foo.svc.cluster.local") > specificity("*.local"));
    }
}
