//! AuthorizationPolicy reduced to what a connection shows: the peer's principal and namespace
//! and the destination port.
//!
//! Order (`pilot/pkg/security/authz/builder`): CUSTOM, then DENY, then ALLOW. With no ALLOW
//! policy selecting the workload everything not denied is allowed; with one, a request must match
//! one of its rules. A policy without rules allows nothing (ALLOW) or denies nothing (DENY).
//! Fields the identity check cannot see follow Istio's TCP filter rule
//! (istio.io "Authorization for TCP traffic"): in an ALLOW rule they make the rule never match;
//! in a DENY rule they are dropped, which makes the rule deny more. Both fail closed.

use crate::identity::SpiffeId;
use crate::model::{AuthzAction, AuthzRule, AuthzSource};
use serde::{Deserialize, Serialize};

/// The AuthorizationPolicies that select one workload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadAuthz {
    /// Rules of every ALLOW policy, each tagged with its policy (`ns/name`).
    pub allow: Vec<NamedRules>,
    /// Rules of every DENY policy.
    pub deny: Vec<NamedRules>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedRules {
    pub policy: String,
    pub rules: Vec<Rule>,
}

/// A rule in the form the filter carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub from: Vec<Source>,
    pub ports: Vec<u16>,
    pub not_ports: Vec<u16>,
    /// The rule has conditions the connection-level check cannot evaluate.
    pub unevaluable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    pub principals: Vec<String>,
    pub not_principals: Vec<String>,
    pub namespaces: Vec<String>,
    pub not_namespaces: Vec<String>,
    pub unevaluable: bool,
}

impl From<&AuthzSource> for Source {
    fn from(s: &AuthzSource) -> Self {
        Self {
            principals: s.principals.clone(),
            not_principals: s.not_principals.clone(),
            namespaces: s.namespaces.clone(),
            not_namespaces: s.not_namespaces.clone(),
            unevaluable: s.other_fields,
        }
    }
}

impl From<&AuthzRule> for Rule {
    fn from(r: &AuthzRule) -> Self {
        Self {
            from: r.from.iter().map(Source::from).collect(),
            ports: r.ports.clone(),
            not_ports: r.not_ports.clone(),
            unevaluable: r.http_fields,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzOutcome {
    Allowed,
    Denied,
}

impl WorkloadAuthz {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Adds one policy's rules under its action. AUDIT and CUSTOM do not decide here.
    pub fn add(&mut self, policy: String, action: AuthzAction, rules: Option<&[AuthzRule]>) {
        let rules = rules.unwrap_or_default().iter().map(Rule::from).collect();
        match action {
            AuthzAction::Allow => self.allow.push(NamedRules { policy, rules }),
            AuthzAction::Deny => self.deny.push(NamedRules { policy, rules }),
            AuthzAction::Audit | AuthzAction::Custom => {}
        }
    }

    /// Whether any policy conditions on the peer's identity (KIA0105's "needs mTLS").
    pub fn uses_identities(&self) -> bool {
        self.allow.iter().chain(&self.deny).flat_map(|p| &p.rules).flat_map(|r| &r.from).any(|s| {
            !(s.principals.is_empty()
                && s.not_principals.is_empty()
                && s.namespaces.is_empty()
                && s.not_namespaces.is_empty())
        })
    }

    pub fn evaluate(&self, port: u16, principal: Option<&SpiffeId>, trust_domains: &[String]) -> AuthzOutcome {
        self.decide(port, principal, trust_domains).outcome()
    }

    /// The authorization decision with the policy and rule behind it. The filter (through
    /// [`WorkloadAuthz::evaluate`]) and `reach` both decide here.
    pub fn decide(&self, port: u16, principal: Option<&SpiffeId>, trust_domains: &[String]) -> AuthzDecision<'_> {
        let peer = Peer { principal, trust_domains };
        for named in &self.deny {
            for (index, rule) in named.rules.iter().enumerate() {
                if rule.matches(port, &peer, Action::Deny) {
                    let widened = rule.has_request_conditions();
                    return AuthzDecision::Denied(AuthzDenial::DenyRule {
                        rule: RuleRef { policy: &named.policy, index },
                        widened,
                    });
                }
            }
        }
        if self.allow.is_empty() {
            return AuthzDecision::Allowed(None);
        }
        let mut request_only = Vec::new();
        for named in &self.allow {
            for (index, rule) in named.rules.iter().enumerate() {
                let at = RuleRef { policy: &named.policy, index };
                if rule.matches(port, &peer, Action::Allow) {
                    return AuthzDecision::Allowed(Some(at));
                }
                // Matched on what a connection shows, refused only for request-level conditions
                // (only a rule carrying such conditions can match one way and not the other).
                if rule.has_request_conditions() && rule.matches(port, &peer, Action::Deny) {
                    request_only.push(at);
                }
            }
        }
        AuthzDecision::Denied(AuthzDenial::NoAllowRule { request_only })
    }
}

/// One rule of one policy: `policy` is `namespace/name`, `index` counts from 0 as Envoy's RBAC
/// policy names do (`ns[NS]-policy[NAME]-rule[INDEX]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleRef<'a> {
    pub policy: &'a str,
    pub index: usize,
}

impl RuleRef<'_> {
    /// The name Envoy's RBAC filter logs for this rule (`rbac_access_denied_matched_policy[…]`).
    pub fn envoy_policy_name(&self) -> String {
        let (ns, name) = self.policy.split_once('/').unwrap_or(("", self.policy));
        format!("ns[{ns}]-policy[{name}]-rule[{}]", self.index)
    }
}

/// An authorization decision and what made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzDecision<'a> {
    /// Allowed by this ALLOW rule, or (`None`) because no DENY rule matched and no ALLOW policy
    /// selects the workload.
    Allowed(Option<RuleRef<'a>>),
    Denied(AuthzDenial<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzDenial<'a> {
    /// A DENY rule matched. `widened`: it has conditions a connection does not show, which were
    /// dropped (Istio's TCP rule), so it may deny more than on an HTTP port in Istio.
    DenyRule { rule: RuleRef<'a>, widened: bool },
    /// ALLOW policies select the workload and none of their rules matched. `request_only`: the
    /// rules that matched the peer and port but carry request-level conditions (paths, methods,
    /// headers, JWT claims) the connection-level check does not evaluate.
    NoAllowRule { request_only: Vec<RuleRef<'a>> },
}

impl AuthzDecision<'_> {
    pub fn outcome(&self) -> AuthzOutcome {
        match self {
            Self::Allowed(_) => AuthzOutcome::Allowed,
            Self::Denied(_) => AuthzOutcome::Denied,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    Deny,
}

struct Peer<'a> {
    principal: Option<&'a SpiffeId>,
    trust_domains: &'a [String],
}

impl Rule {
    /// Whether the rule, or one of its sources, has conditions the connection-level check
    /// cannot evaluate.
    fn has_request_conditions(&self) -> bool {
        self.unevaluable || self.from.iter().any(|s| s.unevaluable)
    }

    fn matches(&self, port: u16, peer: &Peer<'_>, action: Action) -> bool {
        if self.unevaluable && action == Action::Allow {
            return false;
        }
        if !self.ports.is_empty() && !self.ports.contains(&port) {
            return false;
        }
        if self.not_ports.contains(&port) {
            return false;
        }
        self.from.is_empty() || self.from.iter().any(|s| s.matches(peer, action))
    }
}

impl Source {
    fn matches(&self, peer: &Peer<'_>, action: Action) -> bool {
        if self.unevaluable && action == Action::Allow {
            return false;
        }
        let principal = peer.principal.map(SpiffeId::principal);
        let namespace = peer.principal.and_then(SpiffeId::namespace);
        let p_match = |pat: &String| principal_matches(pat, principal.as_deref(), peer.trust_domains);
        let n_match = |pat: &String| string_matches(pat, namespace);
        (self.principals.is_empty() || self.principals.iter().any(p_match))
            && !self.not_principals.iter().any(p_match)
            && (self.namespaces.is_empty() || self.namespaces.iter().any(n_match))
            && !self.not_namespaces.iter().any(n_match)
    }
}

/// Istio's string matcher: exact, `prefix*`, `*suffix`, or `*` (any non-empty value).
fn string_matches(pattern: &str, value: Option<&str>) -> bool {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return false;
    };
    if pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return value.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return value.ends_with(suffix);
    }
    pattern == value
}

/// Principals also match across trust domain aliases: Istio rewrites `<td>/…` principals for
/// every alias (`pilot/pkg/security/trustdomain :: Bundle.ReplaceTrustDomainAliases`).
pub(crate) fn principal_matches(pattern: &str, principal: Option<&str>, trust_domains: &[String]) -> bool {
    if string_matches(pattern, principal) {
        return true;
    }
    let (Some(principal), Some((pat_td, pat_rest))) = (principal, pattern.split_once('/')) else {
        return false;
    };
    let Some((peer_td, peer_rest)) = principal.split_once('/') else {
        return false;
    };
    let in_bundle = |td: &str| trust_domains.iter().any(|t| t == td);
    in_bundle(pat_td) && in_bundle(peer_td) && !pat_rest.contains('*') && pat_rest == peer_rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SpiffeId {
        SpiffeId::parse(s).unwrap()
    }

    #[test]
    fn allow_principal_and_plaintext() {
        let mut a = WorkloadAuthz::default();
        let rule = AuthzRule {
            from: vec![AuthzSource { principals: vec!["cluster.local/ns/bar/sa/sleep".into()], ..Default::default() }],
            ..Default::default()
        };
        a.add("foo/allow".into(), AuthzAction::Allow, Some(std::slice::from_ref(&rule)));
        let tds = vec!["cluster.local".to_owned(), "old".to_owned()];
        assert_eq!(a.evaluate(80, Some(&id("spiffe://cluster.local/ns/bar/sa/sleep")), &tds), AuthzOutcome::Allowed);
        assert_eq!(a.evaluate(80, Some(&id("spiffe://old/ns/bar/sa/sleep")), &tds), AuthzOutcome::Allowed);
        assert_eq!(a.evaluate(80, Some(&id("spiffe://cluster.local/ns/x/sa/sleep")), &tds), AuthzOutcome::Denied);
        assert_eq!(a.evaluate(80, None, &tds), AuthzOutcome::Denied);
    }

    #[test]
    fn deny_not_principals_star_refuses_plaintext() {
        let mut a = WorkloadAuthz::default();
        let rule = AuthzRule {
            from: vec![AuthzSource { not_principals: vec!["*".into()], ..Default::default() }],
            ..Default::default()
        };
        a.add("foo/deny".into(), AuthzAction::Deny, Some(std::slice::from_ref(&rule)));
        assert_eq!(a.evaluate(80, None, &[]), AuthzOutcome::Denied);
        assert_eq!(a.evaluate(80, Some(&id("spiffe://td/ns/a/sa/b")), &[]), AuthzOutcome::Allowed);
    }

    #[test]
    fn allow_nothing_and_http_fields() {
        let mut a = WorkloadAuthz::default();
        a.add("foo/none".into(), AuthzAction::Allow, None);
        assert_eq!(a.evaluate(80, None, &[]), AuthzOutcome::Denied);
        let mut b = WorkloadAuthz::default();
        let http = AuthzRule { http_fields: true, ..Default::default() };
        b.add("foo/http".into(), AuthzAction::Allow, Some(std::slice::from_ref(&http)));
        assert_eq!(b.evaluate(80, None, &[]), AuthzOutcome::Denied);
        let mut c = WorkloadAuthz::default();
        c.add("foo/http".into(), AuthzAction::Deny, Some(std::slice::from_ref(&http)));
        assert_eq!(c.evaluate(80, None, &[]), AuthzOutcome::Denied);
    }

    #[test]
    fn namespaces_and_ports() {
        let mut a = WorkloadAuthz::default();
        let rule = AuthzRule {
            from: vec![AuthzSource { namespaces: vec!["bar".into()], ..Default::default() }],
            ports: vec![80],
            ..Default::default()
        };
        a.add("foo/ns".into(), AuthzAction::Allow, Some(std::slice::from_ref(&rule)));
        let sleep = id("spiffe://cluster.local/ns/bar/sa/sleep");
        assert_eq!(a.evaluate(80, Some(&sleep), &[]), AuthzOutcome::Allowed);
        assert_eq!(a.evaluate(81, Some(&sleep), &[]), AuthzOutcome::Denied);
    }
}
