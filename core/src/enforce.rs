//! Run-time decisions: what a proxy does with one connection or request, given what the core
//! resolved for the workload. The proxy-wasm filter calls this and nothing else decides.
//!
//! The rules mirror a sidecar's inbound listener (`pilot/pkg/networking/core/filterchain_options.go
//! :: getFilterChainMatchOptions`, `pilot/pkg/security/authn/utils/utils.go :: BuildInboundTLS`):
//! STRICT terminates TLS and requires a client certificate whose URI SAN starts with
//! `spiffe://<trust domain>/` for the trust domain or an alias
//! (`plugin/authn/util.go :: TrustDomainsForValidation`); PERMISSIVE also has a plaintext chain;
//! DISABLE has only plaintext chains and forwards everything as-is. AuthorizationPolicy is
//! applied after authentication, in every mode (a plaintext peer has no principal).

use crate::authz::{AuthzOutcome, WorkloadAuthz};
use crate::identity::SpiffeId;
use crate::model::Mode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the server side of one workload enforces, per workload (container) port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundPolicy {
    /// `namespace/name`.
    pub workload: String,
    /// The mode of a port that has no port-level entry (the workload's resolved mode).
    pub default_mode: Mode,
    /// Ports whose mode differs from or was set apart from the workload's (portLevelMtls),
    /// sorted by port, each port once. A list, not a map, for the filter's sake: a handful of
    /// entries, and one collection type fewer compiled into the module. JSON: an object keyed
    /// by port, as a map writes it.
    #[serde(with = "port_map")]
    pub port_modes: Vec<(u16, Mode)>,
    /// Trust domains whose SPIFFE IDs the server accepts: the mesh trust domain and its aliases.
    pub trust_domains: Vec<String>,
    /// AuthorizationPolicies that select this workload, reduced to their identity conditions.
    pub authz: WorkloadAuthz,
}

impl InboundPolicy {
    pub fn mode_for_port(&self, port: u16) -> Mode {
        // `policyApplier.GetMutualTLSModeForPort`: PerPort[port] if present, else Mode.
        self.port_modes.iter().find(|(p, _)| *p == port).map_or(self.default_mode, |(_, m)| *m)
    }
}

/// `port_modes` as JSON: `{"8080": "PERMISSIVE"}`, read through a map (sorted, the last of a
/// repeated port wins) and written in the list's order.
mod port_map {
    use super::Mode;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(ports: &[(u16, Mode)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(ports.iter().map(|(p, m)| (p, m)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(u16, Mode)>, D::Error> {
        Ok(BTreeMap::<u16, Mode>::deserialize(d)?.into_iter().collect())
    }
}

/// What the client side enforces toward one destination service: secure naming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundPolicy {
    /// The destination host (FQDN).
    pub host: String,
    /// The service port this entry is for; absent: every port of the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The SPIFFE IDs the destination may present (`ServiceAccounts(host)`, alias-expanded).
    /// Empty means any mesh-signed certificate is accepted, as in Envoy with no SAN matcher.
    pub identities: Vec<String>,
}

/// What the proxy knows about the peer of a connection, after the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerFacts<'a> {
    /// The connection is TLS (terminated by the proxy).
    pub tls: bool,
    /// A client certificate was presented and verified against the mesh root
    /// (Envoy's `connection.mtls`).
    pub mtls: bool,
    /// The first URI SAN of the peer certificate (Envoy's `connection.uri_san_peer_certificate`).
    pub uri_san: Option<&'a str>,
}

/// Why a connection or request was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AllowReason {
    /// A mesh identity in an accepted trust domain (and allowed by authorization).
    MtlsPeer,
    /// Plaintext under PERMISSIVE.
    PermissivePlaintext,
    /// TLS without a client certificate under PERMISSIVE: passed through to the app.
    PermissiveTls,
    /// DISABLE forwards everything as-is.
    Disabled,
    /// The upstream presented an identity the service may run as.
    SecureNaming,
    /// The client side sent plaintext (a DestinationRule DISABLE, or auto mTLS toward an
    /// endpoint without a sidecar): there is no certificate, and secure naming does not apply.
    PlaintextUpstream,
}

/// Why a connection or request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DenyReason {
    /// Plaintext to a STRICT port (Envoy: `NR filter_chain_not_found`).
    Plaintext,
    /// TLS without a client certificate to a STRICT port.
    NoClientCertificate,
    /// A client certificate without a SPIFFE URI SAN.
    NoSpiffeId,
    /// A SPIFFE ID outside the accepted trust domains.
    UntrustedTrustDomain,
    /// No ALLOW AuthorizationPolicy rule matched, or a DENY rule did.
    Authorization,
    /// The upstream's identity is not one the destination service may present.
    SecureNaming,
}

impl AllowReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MtlsPeer => "mtls_peer",
            Self::PermissivePlaintext => "permissive_plaintext",
            Self::PermissiveTls => "permissive_tls",
            Self::Disabled => "disabled",
            Self::SecureNaming => "secure_naming",
            Self::PlaintextUpstream => "plaintext_upstream",
        }
    }
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::NoClientCertificate => "no_client_certificate",
            Self::NoSpiffeId => "no_spiffe_id",
            Self::UntrustedTrustDomain => "untrusted_trust_domain",
            Self::Authorization => "authorization",
            Self::SecureNaming => "secure_naming",
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow(AllowReason),
    Deny(DenyReason),
}

impl Decision {
    pub fn is_allow(self) -> bool {
        matches!(self, Self::Allow(_))
    }
    /// `allow` or `deny`.
    pub fn verdict(self) -> &'static str {
        if self.is_allow() { "allow" } else { "deny" }
    }
    /// The reason as a metric-friendly token.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Allow(r) => r.as_str(),
            Self::Deny(r) => r.as_str(),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.verdict(), self.reason())
    }
}

/// Decide one inbound connection (network filter) or request (HTTP filter) on a workload port.
pub fn decide_inbound(policy: &InboundPolicy, port: u16, peer: &PeerFacts<'_>) -> Decision {
    let mode = policy.mode_for_port(port);
    let authenticated = match authenticate(mode, &policy.trust_domains, peer) {
        Ok(a) => a,
        Err(reason) => return Decision::Deny(reason),
    };
    let principal = authenticated.principal;
    match policy.authz.evaluate(port, principal.as_ref(), &policy.trust_domains) {
        AuthzOutcome::Allowed => Decision::Allow(authenticated.reason),
        AuthzOutcome::Denied => Decision::Deny(DenyReason::Authorization),
    }
}

struct Authenticated {
    reason: AllowReason,
    principal: Option<SpiffeId>,
}

fn authenticate(mode: Mode, trust_domains: &[String], peer: &PeerFacts<'_>) -> Result<Authenticated, DenyReason> {
    if mode == Mode::Disable {
        // DISABLE: raw_buffer chains only, no TLS context; nothing is authenticated.
        return Ok(Authenticated { reason: AllowReason::Disabled, principal: None });
    }
    if peer.mtls {
        // A certificate chained to the mesh root was presented: its SAN must carry an accepted
        // trust domain, in PERMISSIVE as in STRICT (both terminate Istio mTLS the same way).
        let Some(san) = peer.uri_san else {
            return Err(DenyReason::NoSpiffeId);
        };
        let Ok(id) = SpiffeId::parse(san) else {
            return Err(DenyReason::NoSpiffeId);
        };
        if !trust_domains.iter().any(|td| td == id.trust_domain()) {
            return Err(DenyReason::UntrustedTrustDomain);
        }
        return Ok(Authenticated { reason: AllowReason::MtlsPeer, principal: Some(id) });
    }
    match (mode, peer.tls) {
        (Mode::Strict, false) => Err(DenyReason::Plaintext),
        (Mode::Strict, true) => Err(DenyReason::NoClientCertificate),
        (_, false) => Ok(Authenticated { reason: AllowReason::PermissivePlaintext, principal: None }),
        (_, true) => Ok(Authenticated { reason: AllowReason::PermissiveTls, principal: None }),
    }
}

/// Decide an upstream response by the upstream's first URI SAN: secure naming.
/// Secure naming on an upstream connection: only an upstream the client side reached over TLS
/// has a certificate to check; a plaintext upstream passes (Istio checks SANs in the TLS
/// handshake, and sends none when it originates no TLS).
pub fn decide_outbound_upstream(policy: &OutboundPolicy, upstream_tls: bool, upstream_san: Option<&str>) -> Decision {
    if upstream_tls { decide_outbound(policy, upstream_san) } else { Decision::Allow(AllowReason::PlaintextUpstream) }
}

pub fn decide_outbound(policy: &OutboundPolicy, upstream_san: Option<&str>) -> Decision {
    if policy.identities.is_empty() {
        // No SAN list: Envoy accepts any certificate that chains to the mesh root.
        return Decision::Allow(AllowReason::SecureNaming);
    }
    match upstream_san {
        Some(san) if policy.identities.iter().any(|id| id == san) => Decision::Allow(AllowReason::SecureNaming),
        _ => Decision::Deny(DenyReason::SecureNaming),
    }
}
