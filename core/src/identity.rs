//! Secure naming: SPIFFE identities of workloads and the trust domains servers accept.
//!
//! Format from `pkg/spiffe/spiffe.go`: `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`;
//! `genSpiffeURI` replaces `@` with `.` in the trust domain.

use std::fmt;

pub const SPIFFE_SCHEME: &str = "spiffe://";

/// The SPIFFE ID of a Kubernetes service account.
pub fn spiffe_id(trust_domain: &str, namespace: &str, service_account: &str) -> String {
    format!("{SPIFFE_SCHEME}{}/ns/{namespace}/sa/{service_account}", trust_domain.replace('@', "."))
}

/// `spiffe.ExpandWithTrustDomains`: every ID once per trust domain alias, keeping the original,
/// in first-seen order. A set keeps it linear: a ServiceEntry's identities grow with its
/// endpoints, which a hostile input can list by the hundred thousand.
pub fn expand_with_aliases(ids: &[String], aliases: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len() * (aliases.len() + 1));
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::with_capacity(out.capacity());
    let mut push_unique = |id: String| {
        if seen.insert(id.clone()) {
            out.push(id);
        }
    };
    for id in ids {
        push_unique(id.clone());
        if let Ok(parsed) = SpiffeId::parse(id) {
            for alias in aliases {
                push_unique(format!("{SPIFFE_SCHEME}{alias}/{}", parsed.path()));
            }
        }
    }
    out
}

/// A parsed `spiffe://trust-domain/path` URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    trust_domain: String,
    path: String,
}

/// A URI that is not a SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a SPIFFE ID (expected spiffe://<trust domain>/<path>)")]
pub struct SpiffeIdError(String);

impl SpiffeId {
    /// Parses any SPIFFE ID. Istio's server-side check is only a `spiffe://<td>/` prefix match,
    /// so the path is not required to be `ns/…/sa/…` here; see [`SpiffeId::namespace`].
    pub fn parse(uri: &str) -> Result<Self, SpiffeIdError> {
        let err = || SpiffeIdError(uri.to_owned());
        let rest = uri.strip_prefix(SPIFFE_SCHEME).ok_or_else(err)?;
        let (td, path) = rest.split_once('/').ok_or_else(err)?;
        if td.is_empty() || path.is_empty() || td.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err());
        }
        Ok(Self { trust_domain: td.to_owned(), path: path.to_owned() })
    }

    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The path after the trust domain, without the leading slash.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The Istio principal (`<td>/ns/<ns>/sa/<sa>`), as AuthorizationPolicy writes it.
    pub fn principal(&self) -> String {
        format!("{}/{}", self.trust_domain, self.path)
    }

    /// The namespace of an Istio identity (`ns/<ns>/sa/<sa>`; `pkg/spiffe :: ParseIdentity`).
    pub fn namespace(&self) -> Option<&str> {
        self.istio_parts().map(|(ns, _)| ns)
    }

    /// The service account of an Istio identity.
    pub fn service_account(&self) -> Option<&str> {
        self.istio_parts().map(|(_, sa)| sa)
    }

    fn istio_parts(&self) -> Option<(&str, &str)> {
        let mut parts = self.path.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("ns"), Some(ns), Some("sa"), Some(sa), None) if !ns.is_empty() && !sa.is_empty() => Some((ns, sa)),
            _ => None,
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SPIFFE_SCHEME}{}/{}", self.trust_domain, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_istio_identities() {
        let id = spiffe_id("cluster.local", "foo", "httpbin");
        assert_eq!(id, "spiffe://cluster.local/ns/foo/sa/httpbin");
        let p = SpiffeId::parse(&id).unwrap();
        assert_eq!(p.trust_domain(), "cluster.local");
        assert_eq!(p.namespace(), Some("foo"));
        assert_eq!(p.service_account(), Some("httpbin"));
        assert_eq!(p.principal(), "cluster.local/ns/foo/sa/httpbin");
        assert_eq!(spiffe_id("a@b", "n", "s"), "spiffe://a.b/ns/n/sa/s");
    }

    #[test]
    fn rejects_non_spiffe() {
        assert!(SpiffeId::parse("https://cluster.local/ns/a/sa/b").is_err());
        assert!(SpiffeId::parse("spiffe://cluster.local").is_err());
        assert!(SpiffeId::parse("spiffe:///ns/a").is_err());
        assert_eq!(SpiffeId::parse("spiffe://td/other").unwrap().namespace(), None);
    }

    #[test]
    fn expands_aliases() {
        let ids = vec![spiffe_id("cluster.local", "foo", "a")];
        let out = expand_with_aliases(&ids, &["old.td".to_owned()]);
        assert_eq!(
            out,
            vec!["spiffe://cluster.local/ns/foo/sa/a".to_owned(), "spiffe://old.td/ns/foo/sa/a".to_owned()]
        );
    }
}
