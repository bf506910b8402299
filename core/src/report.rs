//! The public JSON shapes (docs/contracts.md): what `meshlock analyze/reach/explain/diff`
//! print with `--format json` and what the playground renders. Field names are camelCase.

use crate::diagnostic::Diagnostic;
use crate::model::{ResourceId, TlsMode};
use crate::provenance::{ClientTlsSource, PolicyRef};
use crate::version::IstioVersion;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AnalyzeReport {
    pub istio_version: IstioVersion,
    pub workloads: Vec<WorkloadReport>,
    pub services: Vec<ServiceReport>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadReport {
    pub namespace: String,
    pub name: String,
    pub kind: String,
    pub service_account: String,
    pub identity: String,
    pub sidecar: bool,
    /// Why meshlock thinks the workload has (or lacks) a sidecar.
    pub sidecar_reason: String,
    /// The workload-level mode, or `NONE` without a sidecar.
    pub mode: String,
    pub ports: Vec<PortReport>,
    /// Trust domains whose SPIFFE IDs this workload's sidecar accepts.
    pub accepted_trust_domains: Vec<String>,
    /// Servers of the Gateways that select this workload. A gateway's listeners take their TLS
    /// from these, not from PeerAuthentication (`pilot/pkg/networking/core/gateway.go`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub gateway_servers: Vec<GatewayServerReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct GatewayServerReport {
    /// Printed as `Gateway ns/name`.
    pub gateway: ResourceId,
    pub port: u16,
    pub protocol: String,
    /// The server's TLS mode (`PASSTHROUGH`, `SIMPLE`, `MUTUAL`, `AUTO_PASSTHROUGH`,
    /// `ISTIO_MUTUAL`, `OPTIONAL_MUTUAL`), or `NONE` for a plain-text server.
    pub tls_mode: String,
    pub hosts: Vec<String>,
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PortReport {
    /// The workload (container) port.
    pub port: u16,
    /// `STRICT`, `PERMISSIVE`, `DISABLE`, or `NONE` without a sidecar.
    pub mode: String,
    pub chain: Vec<ChainEntry>,
}

/// The precedence level of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Default,
    Mesh,
    Namespace,
    /// v1alpha1 Policy targeting a service (1.4/1.5).
    Service,
    Workload,
    Port,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::Mesh => "mesh",
            Self::Namespace => "namespace",
            Self::Service => "service",
            Self::Workload => "workload",
            Self::Port => "port",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// This layer decided the mode.
    Applied,
    /// A more specific layer replaced it.
    Overridden,
    /// UNSET: it passes the mode above through.
    Inherited,
    /// Never considered; `reason` says why.
    Ignored,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Applied => "applied",
            Self::Overridden => "overridden",
            Self::Inherited => "inherited",
            Self::Ignored => "ignored",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ChainEntry {
    pub level: Level,
    /// Printed as `PeerAuthentication ns/name` (with `portLevelMtls[port]` for a port entry),
    /// `MeshPolicy default`, `Policy ns/name`, or `built-in` for the default.
    pub policy: PolicyRef,
    /// The mode the policy declares (`UNSET` when it inherits).
    pub declared: String,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ServiceReport {
    pub namespace: String,
    pub name: String,
    pub host: String,
    pub ports: Vec<ServicePortReport>,
    /// `namespace/name` of the workloads behind it.
    pub endpoints: Vec<String>,
    /// The SPIFFE IDs a client accepts from this service (secure naming).
    pub identities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ServicePortReport {
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub name: Option<String>,
    pub target_port: String,
}

/// What the client sends (`clientTls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsKind {
    /// Plaintext from a workload without a sidecar.
    None,
    Disable,
    Simple,
    Mutual,
    IstioMutual,
}

impl From<TlsMode> for ClientTlsKind {
    fn from(m: TlsMode) -> Self {
        match m {
            TlsMode::Disable => Self::Disable,
            TlsMode::Simple => Self::Simple,
            TlsMode::Mutual => Self::Mutual,
            TlsMode::IstioMutual => Self::IstioMutual,
        }
    }
}

impl fmt::Display for ClientTlsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "NONE",
            Self::Disable => "DISABLE",
            Self::Simple => "SIMPLE",
            Self::Mutual => "MUTUAL",
            Self::IstioMutual => "ISTIO_MUTUAL",
        })
    }
}

/// What the server port does (`serverMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerModeKind {
    Strict,
    Permissive,
    Disable,
    NoSidecar,
}

impl fmt::Display for ServerModeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Strict => "STRICT",
            Self::Permissive => "PERMISSIVE",
            Self::Disable => "DISABLE",
            Self::NoSidecar => "NO_SIDECAR",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReachReport {
    pub calls: Vec<Call>,
}

/// The kind of failure a symptom describes, coarse enough to compare a prediction with what a
/// running data path shows (`meshlock simulate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SymptomClass {
    /// The call works.
    Ok,
    /// The server side has no filter chain for what the client sent (plaintext to STRICT).
    NoFilterChain,
    /// The client refused the server's certificate (secure naming, or a chain it cannot verify).
    CertificateVerifyFailed,
    /// The server sidecar's authorization refused the call.
    Rbac,
    /// The connection ended before a response (bytes the other end cannot speak).
    Reset,
    /// Anything else.
    Other,
}

impl SymptomClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoFilterChain => "no_filter_chain",
            Self::CertificateVerifyFailed => "certificate_verify_failed",
            Self::Rbac => "rbac",
            Self::Reset => "reset",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub from: String,
    pub from_sidecar: bool,
    /// `host:port` (service port).
    pub to: String,
    pub to_workload: String,
    pub subset: Option<String>,
    pub client_tls: ClientTlsKind,
    /// Printed as a sentence.
    pub client_tls_source: ClientTlsSource,
    pub server_mode: ServerModeKind,
    /// Serialized as the two booleans `ok` and `mtls`, in their place.
    #[serde(flatten)]
    pub outcome: Outcome,
    pub symptom: Option<String>,
    /// The class of `symptom`, set with it where the call evaluation decides the call fails.
    #[serde(skip)]
    pub failure: Option<SymptomClass>,
    /// The workload (container) port the call lands on.
    pub target_port: u16,
    /// Why, in one sentence.
    pub explanation: String,
    /// For Istio mTLS: the SNI the client sends (`outbound_.PORT_.SUBSET_.HOST` unless the rule
    /// sets `sni`) and the URI SANs it accepts from the server — what to compare with the
    /// server's certificate when the handshake fails with CERTIFICATE_VERIFY_FAILED.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub verifies: Option<ServerVerification>,
}

/// What a call comes to. The JSON keeps it as the booleans `ok` and `mtls`; this is the one
/// place that maps between the two, so no caller classifies the pair itself (and `mtls`
/// without `ok` cannot be written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Admitted over Istio mutual TLS.
    Mtls,
    /// Admitted without mutual TLS: plaintext, or the app's own TLS through the mesh.
    Plaintext,
    /// The call fails (transport or authorization).
    Fails,
}

impl Call {
    /// What a running data path shows for this call, coarsely: `Ok` when it works, else the class
    /// the evaluation gave its symptom.
    pub fn symptom_class(&self) -> SymptomClass {
        if self.outcome.ok() { SymptomClass::Ok } else { self.failure.unwrap_or(SymptomClass::Other) }
    }
}

impl Outcome {
    pub fn ok(self) -> bool {
        self != Self::Fails
    }

    pub fn mtls(self) -> bool {
        self == Self::Mtls
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Outcome", 2)?;
        s.serialize_field("ok", &self.ok())?;
        s.serialize_field("mtls", &self.mtls())?;
        s.end()
    }
}

/// Its TypeScript form is what it serializes to: two boolean fields of the enclosing object.
#[cfg(feature = "ts")]
impl ts_rs::TS for Outcome {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn name(_: &ts_rs::Config) -> String {
        "{ ok: boolean, mtls: boolean, }".to_owned()
    }

    fn inline(cfg: &ts_rs::Config) -> String {
        Self::name(cfg)
    }

    fn inline_flattened(cfg: &ts_rs::Config) -> String {
        Self::name(cfg)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ServerVerification {
    pub sni: String,
    /// Empty: any certificate of the mesh's CA is accepted.
    pub accepted_sans: Vec<String>,
}

impl Call {
    /// The identity of a call across two analyses (for `diff`).
    pub fn key(&self) -> (String, String, String, Option<String>) {
        (self.from.clone(), self.to.clone(), self.to_workload.clone(), self.subset.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    pub changes: Vec<CallChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct CallChange {
    pub from: String,
    pub to: String,
    pub to_workload: String,
    pub subset: Option<String>,
    /// `None` when the call does not exist on that side (a workload or service came or went).
    pub before: Option<CallOutcome>,
    pub after: Option<CallOutcome>,
    pub change: ChangeKind,
}

/// How one call differs between two inputs. The order is what a reviewer must see first: calls
/// that break, then those that lose encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// It worked and now fails.
    Breaks,
    /// It was mTLS and is now admitted without it.
    Decrypts,
    /// The call is gone (a workload or service went).
    Removed,
    /// It failed and now works.
    Fixes,
    /// It was admitted without mTLS and is now mTLS.
    Encrypts,
    /// A new call (a workload or service came).
    Added,
    /// Same outcome, other client TLS or server mode.
    Changes,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Breaks => "breaks",
            Self::Decrypts => "decrypts",
            Self::Removed => "removed",
            Self::Fixes => "fixes",
            Self::Encrypts => "encrypts",
            Self::Added => "added",
            Self::Changes => "changes",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct CallOutcome {
    /// Serialized as `ok` and `mtls`, in their place.
    #[serde(flatten)]
    pub outcome: Outcome,
    pub client_tls: ClientTlsKind,
    pub server_mode: ServerModeKind,
    pub symptom: Option<String>,
}

impl From<&Call> for CallOutcome {
    fn from(c: &Call) -> Self {
        Self { outcome: c.outcome, client_tls: c.client_tls, server_mode: c.server_mode, symptom: c.symptom.clone() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub workload: WorkloadReport,
    /// The precedence story, one paragraph per port.
    pub story: Vec<String>,
    /// Calls into this workload (from the reach query).
    pub inbound: Vec<Call>,
}

/// The first `max` items joined with commas, then how many more there are: a list in a message
/// that stays short whatever the input holds.
pub(crate) fn list_some<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(AsRef::as_ref).collect();
    match items.len().saturating_sub(max) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
