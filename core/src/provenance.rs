//! Where a result came from, as types: the policy behind a server mode, the DestinationRule part
//! or auto mTLS decision behind a client's TLS. The reports print these as sentences (their
//! `Display`, which is also their JSON), but code decides from the variants, never from the words,
//! so rewording a sentence cannot change a diagnostic.

use crate::model::{ResourceId, TlsMode};
use serde::{Serialize, Serializer};
use std::fmt;

/// The policy a precedence-chain entry stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(as = "String"))]
pub enum PolicyRef {
    /// Istio's default when no policy sets a mode.
    BuiltIn,
    /// A PeerAuthentication, MeshPolicy or Policy as a whole.
    Resource(ResourceId),
    /// One `portLevelMtls` entry (keyed by the container port) of a PeerAuthentication.
    PortLevel(ResourceId, u32),
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BuiltIn => f.write_str("built-in"),
            Self::Resource(id) => write!(f, "{id}"),
            Self::PortLevel(id, port) => write!(f, "{id} portLevelMtls[{port}]"),
        }
    }
}

impl Serialize for PolicyRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A `tls` block inside a DestinationRule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TlsBlock {
    /// `spec.trafficPolicy.tls`.
    Top,
    /// `spec.trafficPolicy.portLevelSettings[port].tls`.
    Port(u32),
    /// `spec.subsets[name].trafficPolicy.tls`.
    Subset(String),
    /// `spec.subsets[name].trafficPolicy.portLevelSettings[port].tls`.
    SubsetPort(String, u32),
}

/// The path of the block in the resource, as a plan names what it edits.
impl fmt::Display for TlsBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Top => f.write_str("trafficPolicy.tls"),
            Self::Port(p) => write!(f, "trafficPolicy.portLevelSettings[{p}].tls"),
            Self::Subset(s) => write!(f, "subsets[{s}].trafficPolicy.tls"),
            Self::SubsetPort(s, p) => write!(f, "subsets[{s}].trafficPolicy.portLevelSettings[{p}].tls"),
        }
    }
}

/// Which `tls` block of which DestinationRule decided a client's TLS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlsOrigin {
    pub rule: ResourceId,
    pub block: TlsBlock,
}

/// The DestinationRule, and the part of it, a client's TLS was looked up in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RulePart {
    /// The member rule whose policy decided: the one holding `block`, or the oldest member of the
    /// merged rule when none has a trafficPolicy.
    pub rule: ResourceId,
    /// `None`: the rule has no trafficPolicy at all.
    pub block: Option<TlsBlock>,
}

impl RulePart {
    pub fn origin(&self) -> Option<TlsOrigin> {
        self.block.clone().map(|block| TlsOrigin { rule: self.rule.clone(), block })
    }
}

impl fmt::Display for RulePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rule)?;
        match &self.block {
            None | Some(TlsBlock::Top) => Ok(()),
            Some(TlsBlock::Port(p)) => write!(f, " portLevelSettings[{p}]"),
            Some(TlsBlock::Subset(s)) => write!(f, " subset {s}"),
            Some(TlsBlock::SubsetPort(s, p)) => write!(f, " subset {s} portLevelSettings[{p}]"),
        }
    }
}

/// How a DestinationRule's `tls` block that sets TLS decides what a sidecar sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleTlsSetting {
    /// The mode as written.
    Mode(TlsMode),
    /// `tls` without `mode`: the field's zero value, DISABLE.
    ModeOmitted,
    /// SIMPLE or MUTUAL with credentialName and no workloadSelector: a sidecar builds no TLS
    /// context for it and sends plaintext.
    CredentialWithoutSelector(TlsMode),
}

/// What auto mTLS decides for a client whose DestinationRule leaves `tls` unset (or that has
/// none), in the order `client_side` checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AutoMtls {
    /// `enableAutoMtls: false`: plaintext.
    Off,
    /// The service is outside the mesh: plaintext.
    ServiceOutsideMesh,
    /// A headless or passthrough service with an endpoint without a sidecar: plaintext.
    HeadlessWithPlaintextEndpoint,
    /// The mesh/namespace PeerAuthentication of the service's namespace is DISABLE: the cluster
    /// has no TLS.
    NamespaceDisable { namespace: String },
    /// The endpoint has no sidecar (no `security.istio.io/tlsMode=istio`): plaintext.
    EndpointWithoutSidecar,
    /// The endpoint's own PeerAuthentication is DISABLE on this port (Istio 1.12 and later).
    EndpointPortDisable { port: u16 },
    /// Istio mutual TLS.
    Mtls,
}

impl fmt::Display for AutoMtls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("auto mTLS off (enableAutoMtls: false): plaintext"),
            Self::ServiceOutsideMesh => f.write_str("auto mTLS: the service is outside the mesh"),
            Self::HeadlessWithPlaintextEndpoint => {
                f.write_str("auto mTLS: a headless/passthrough service with an endpoint without sidecar gets no TLS")
            }
            Self::NamespaceDisable { namespace } => write!(
                f,
                "auto mTLS: the mesh/namespace PeerAuthentication of {namespace} is DISABLE, so the cluster has no TLS"
            ),
            Self::EndpointWithoutSidecar => {
                f.write_str("auto mTLS: the endpoint has no sidecar (no security.istio.io/tlsMode=istio)")
            }
            Self::EndpointPortDisable { port } => {
                write!(f, "auto mTLS: the endpoint's own PeerAuthentication is DISABLE on port {port}")
            }
            Self::Mtls => f.write_str("auto mTLS"),
        }
    }
}

/// Where a client's TLS toward one call came from (`clientTlsSource`, printed as a sentence).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(as = "String"))]
pub enum ClientTlsSource {
    /// The client has no sidecar: the app's bytes leave as they are.
    NoSidecar,
    /// A DestinationRule's `tls` block decided.
    Rule { part: RulePart, setting: RuleTlsSetting },
    /// Auto mTLS decided: no DestinationRule applies (`unset_by` is `None`), or the one that
    /// applies leaves `tls` unset.
    AutoMtls { unset_by: Option<RulePart>, decision: AutoMtls },
}

impl ClientTlsSource {
    /// The DestinationRule the client's TLS was looked up in, if one applies.
    pub fn rule(&self) -> Option<&ResourceId> {
        match self {
            Self::NoSidecar | Self::AutoMtls { unset_by: None, .. } => None,
            Self::Rule { part, .. } | Self::AutoMtls { unset_by: Some(part), .. } => Some(&part.rule),
        }
    }
}

impl fmt::Display for ClientTlsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSidecar => f.write_str("no sidecar"),
            Self::Rule { part, setting: RuleTlsSetting::Mode(_) } => write!(f, "{part}"),
            Self::Rule { part, setting: RuleTlsSetting::ModeOmitted } => {
                write!(f, "{part} (tls without mode: DISABLE)")
            }
            Self::Rule { part, setting: RuleTlsSetting::CredentialWithoutSelector(mode) } => write!(
                f,
                "{part} ({mode} with credentialName and no workloadSelector: sidecars build no TLS context, plaintext)"
            ),
            Self::AutoMtls { unset_by: None, decision } => write!(f, "{decision}"),
            Self::AutoMtls { unset_by: Some(part), decision } => write!(f, "{part} leaves tls unset; {decision}"),
        }
    }
}

impl Serialize for ClientTlsSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
