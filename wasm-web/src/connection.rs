//! "Try a connection": what the filter decides for one connection to a workload port, computed by
//! the filter's own configuration and decision code (`meshlock_filter::config::Guard`, built
//! without the proxy-wasm glue) from the exact plugin configuration a WasmPlugin would carry, next
//! to what `reach` predicts for the same call.

use meshlock_core::Analysis;
use meshlock_core::compile::plugin::{Direction, FilterKind, LogSetting, PluginConfig};
use meshlock_core::enforce::PeerFacts;
use meshlock_core::reach::{ReachFilter, for_each_call};
use meshlock_core::report::{Call, ClientTlsKind};
use meshlock_filter::config::Guard;
use serde::Serialize;

/// Who connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A workload of the input: what its side sends comes from `reach`.
    Workload(String),
    /// Any SPIFFE ID, presented in a certificate chained to the mesh root.
    Spiffe(String),
    /// No TLS at all.
    Plaintext,
    /// TLS without a client certificate.
    TlsWithoutCertificate,
}

impl Peer {
    /// From the page's selector: `workload` + `ns/name`, `spiffe` + an ID, `plaintext`, `tls`.
    pub fn parse(kind: &str, value: Option<&str>) -> Result<Self, String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        match (kind, value) {
            ("workload", Some(v)) => Ok(Self::Workload(v.to_owned())),
            ("spiffe", Some(v)) if v.starts_with("spiffe://") => Ok(Self::Spiffe(v.to_owned())),
            ("spiffe", _) => Err("a SPIFFE ID looks like spiffe://cluster.local/ns/NAMESPACE/sa/ACCOUNT".to_owned()),
            ("plaintext", _) => Ok(Self::Plaintext),
            ("tls", _) => Ok(Self::TlsWithoutCertificate),
            ("workload", None) => Err("choose a client workload".to_owned()),
            (other, _) => Err(format!("unknown kind of peer `{other}`")),
        }
    }
}

/// The filter's verdict, as its metric and log line name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct FilterDecision {
    /// `allow` or `deny`.
    #[cfg_attr(feature = "ts", ts(type = r#""allow" | "deny""#))]
    pub verdict: String,
    /// The reason token (`mtls_peer`, `plaintext`, `untrusted_trust_domain`, …).
    pub reason: String,
    /// The Envoy counter it increments.
    pub metric: String,
    /// What the filter was told about the connection.
    pub peer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TryResult {
    /// The plugin configuration of the workload's inbound filter, exactly as the WasmPlugin's
    /// `pluginConfig` carries it.
    pub configuration: String,
    /// One decision per way the peer reaches the port (a workload may reach it through several
    /// services or subsets, each with its own client TLS); one for the other kinds of peer.
    pub decisions: Vec<TriedCall>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TriedCall {
    pub filter: FilterDecision,
    /// `reach`'s prediction, when the peer is a workload of the input.
    pub predicted: Option<Call>,
}

/// The inbound plugin configuration of `workload` for a filter of `kind`.
pub fn plugin_configuration(a: &Analysis, workload: &str, kind: FilterKind) -> Result<String, String> {
    let compiled = a.compile(workload).map_err(|e| e.to_string())?;
    Ok(PluginConfig::compiled(&compiled, Direction::Inbound, kind, LogSetting::Decisions).to_json())
}

/// What the filter on `workload`'s `port` decides for `peer`.
pub fn try_connection(a: &Analysis, workload: &str, port: u16, peer: &Peer) -> Result<TryResult, String> {
    let configuration = plugin_configuration(a, workload, FilterKind::Network)?;
    let guard = Guard::configure(configuration.as_bytes(), None).map_err(|e| e.to_string())?;
    let decide = |facts: &PeerFacts<'_>, described: String| {
        let v = guard.decide_inbound(Some(port), facts);
        FilterDecision {
            verdict: v.verdict().to_owned(),
            reason: v.reason().to_owned(),
            metric: v.metric_name(),
            peer: described,
        }
    };
    let decisions = match peer {
        Peer::Workload(client) => {
            let (_, w) = a.workload(client).map_err(|e| e.to_string())?;
            if !w.workload.kind.is_client() {
                return Err(format!(
                    "{client} is an endpoint ({}), not a workload that calls anything",
                    w.workload.kind
                ));
            }
            let filter = ReachFilter {
                from: vec![client.clone()],
                to_workload: Some(workload.to_owned()),
                ..Default::default()
            };
            let mut calls = Vec::new();
            for_each_call(a, &filter, |c| {
                if c.target_port == port {
                    calls.push(c);
                }
            });
            if calls.is_empty() {
                return Err(format!(
                    "{client} has no call to {workload} port {port}: no Service port of it lands there"
                ));
            }
            calls
                .into_iter()
                .map(|c| {
                    let (facts, described) = facts_of(a, &c);
                    TriedCall { filter: decide(&facts, described), predicted: Some(c) }
                })
                .collect()
        }
        Peer::Spiffe(id) => {
            let facts = PeerFacts { tls: true, mtls: true, uri_san: Some(id) };
            vec![TriedCall {
                filter: decide(&facts, format!("mTLS with a mesh-signed certificate for {id}")),
                predicted: None,
            }]
        }
        Peer::Plaintext => {
            let facts = PeerFacts::default();
            vec![TriedCall { filter: decide(&facts, "plaintext".to_owned()), predicted: None }]
        }
        Peer::TlsWithoutCertificate => {
            let facts = PeerFacts { tls: true, mtls: false, uri_san: None };
            vec![TriedCall { filter: decide(&facts, "TLS without a client certificate".to_owned()), predicted: None }]
        }
    };
    Ok(TryResult { configuration, decisions })
}

/// What the server's proxy sees of a call `reach` evaluated: Istio mTLS carries the client's
/// SPIFFE ID; SIMPLE/MUTUAL is TLS without a mesh client certificate; the rest is plaintext.
fn facts_of<'a>(a: &'a Analysis, c: &Call) -> (PeerFacts<'a>, String) {
    match c.client_tls {
        ClientTlsKind::IstioMutual => {
            let identity = a.workload(&c.from).ok().map(|(_, w)| w.identity.as_str());
            let described = format!("Istio mTLS from {} ({})", c.from, identity.unwrap_or("no identity"));
            (PeerFacts { tls: true, mtls: true, uri_san: identity }, described)
        }
        ClientTlsKind::Simple | ClientTlsKind::Mutual => (
            PeerFacts { tls: true, mtls: false, uri_san: None },
            format!("{} TLS (not Istio mTLS) from {}", c.client_tls, c.from),
        ),
        _ => (PeerFacts::default(), format!("plaintext from {}", c.from)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshlock_core::report::Outcome;
    use meshlock_core::{Options, Source};

    const MESH: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: foo}
spec:
  template:
    metadata: {labels: {app: httpbin}}
    spec: {serviceAccountName: httpbin, containers: [{name: app, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec: {selector: {app: httpbin}, ports: [{name: http, port: 8000, targetPort: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleep, namespace: foo}
spec:
  template:
    metadata: {labels: {app: sleep}}
    spec: {serviceAccountName: sleep, containers: [{name: app}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleep, namespace: legacy}
spec:
  template:
    metadata: {labels: {app: sleep}}
    spec: {containers: [{name: app}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec: {mtls: {mode: STRICT}}
";

    fn analysis() -> Analysis {
        Analysis::new(&[Source::new("m.yaml", MESH)], &Options::default())
    }

    fn one(a: &Analysis, peer: Peer) -> TriedCall {
        let r = try_connection(a, "foo/httpbin", 80, &peer).expect("tried");
        assert!(r.configuration.contains(r#""direction":"inbound""#), "{}", r.configuration);
        r.decisions.into_iter().next().expect("a decision")
    }

    #[test]
    fn the_filter_and_reach_agree_on_mesh_clients() {
        let a = analysis();
        let mesh = one(&a, Peer::Workload("foo/sleep".to_owned()));
        assert_eq!((mesh.filter.verdict.as_str(), mesh.filter.reason.as_str()), ("allow", "mtls_peer"));
        assert!(mesh.predicted.as_ref().is_some_and(|c| c.outcome == Outcome::Mtls));
        let legacy = one(&a, Peer::Workload("legacy/sleep".to_owned()));
        assert_eq!((legacy.filter.verdict.as_str(), legacy.filter.reason.as_str()), ("deny", "plaintext"));
        assert!(legacy.predicted.as_ref().is_some_and(|c| c.outcome == Outcome::Fails));
        assert_eq!(legacy.filter.metric, "meshlock.decisions.deny.plaintext");
    }

    #[test]
    fn free_identities_and_bare_connections() {
        let a = analysis();
        let other = one(&a, Peer::Spiffe("spiffe://other.example/ns/x/sa/y".to_owned()));
        assert_eq!(other.filter.reason, "untrusted_trust_domain");
        let ours = one(&a, Peer::Spiffe("spiffe://cluster.local/ns/x/sa/y".to_owned()));
        assert_eq!(ours.filter.verdict, "allow");
        assert_eq!(one(&a, Peer::Plaintext).filter.reason, "plaintext");
        assert_eq!(one(&a, Peer::TlsWithoutCertificate).filter.reason, "no_client_certificate");
    }

    #[test]
    fn bad_requests_say_why() {
        let a = analysis();
        assert!(try_connection(&a, "foo/nope", 80, &Peer::Plaintext).is_err());
        let none = try_connection(&a, "foo/httpbin", 9999, &Peer::Workload("foo/sleep".to_owned()));
        assert!(none.is_err_and(|e| e.contains("no call")));
        assert!(Peer::parse("spiffe", Some("not-an-id")).is_err());
        assert!(Peer::parse("carrier-pigeon", None).is_err());
        let with_endpoints = format!(
            "{MESH}---\napiVersion: v1\nkind: Service\nmetadata: {{name: kubernetes, namespace: default}}\nspec: {{ports: [{{port: 443}}]}}\n"
        );
        let a = Analysis::new(&[Source::new("m.yaml", with_endpoints)], &Options::default());
        let api = try_connection(&a, "foo/httpbin", 80, &Peer::Workload("default/kubernetes".to_owned()));
        assert!(api.is_err_and(|e| e.contains("not a workload that calls")));
        assert_eq!(Peer::parse("workload", Some(" foo/sleep ")), Ok(Peer::Workload("foo/sleep".to_owned())));
    }
}
