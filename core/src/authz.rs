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
        let peer = Peer { principal, trust_domains };
        let denied = self.deny.iter().flat_map(|p| &p.rules).any(|r| r.matches(port, &peer, Action::Deny));
        if denied {
            return AuthzOutcome::Denied;
        }
        if self.allow.is_empty() {
            return AuthzOutcome::Allowed;
        }
        let allowed = self.allow.iter().flat_map(|p| &p.rules).any(|r| r.matches(port, &peer, Action::Allow));
        if allowed { AuthzOutcome::Allowed } else { AuthzOutcome::Denied }
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
fn principal_matches(pattern: &str, principal: Option<&str>, trust_domains: &[String]) -> bool {
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
