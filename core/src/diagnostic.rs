//! Diagnostics: every problem found in the input, with a stable code, a severity and a position.
//!
//! The codes are public (docs/diagnostics.md lists them all); a code never changes meaning.

use crate::source::{Location, RenderedTemplates, Source};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// How bad a finding is. `Error` makes `meshlock analyze` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $sev:ident, $title:literal; )*) => {
        /// Stable diagnostic codes. `ML0xxx` input, `ML1xx` server side, `ML2xx` legacy
        /// v1alpha1, `ML3xx` DestinationRule, `ML4xx` reachability, `ML5xx`
        /// AuthorizationPolicy, `ML6xx` Gateway, `ML7xx` inventory.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(as = "String"))]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in order (for the documentation table and its test).
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as printed, e.g. `ML0102`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The severity a finding with this code has.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// A short title, as in the documentation table.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }
        }
    };
}

codes! {
    YamlSyntax = "ML0001", Error, "YAML or JSON that cannot be parsed";
    InputLimit = "ML0002", Error, "input over a documented limit";
    InvalidField = "ML0003", Error, "a field has the wrong type or an unknown value";
    MissingField = "ML0004", Error, "a required field is missing";
    UnknownKind = "ML0005", Info, "a kind meshlock does not read was skipped";
    UnknownField = "ML0006", Info, "an unknown field was tolerated";
    DuplicateResource = "ML0007", Warning, "the same resource is defined twice; the later one is used";
    AlphaIgnored = "ML0010", Warning, "v1alpha1 MeshPolicy/Policy under Istio 1.6 or later is ignored";
    AlphaReadAs15 = "ML0011", Info, "v1alpha1 input read with Istio 1.5 semantics";
    BetaBefore15 = "ML0012", Warning, "PeerAuthentication does not exist before Istio 1.5";
    MeshPolicyConflict = "ML0101", Warning, "several mesh-wide PeerAuthentications: only the oldest is used";
    NamespacePolicyConflict = "ML0102", Warning, "several namespace-wide PeerAuthentications: only the oldest is used";
    WorkloadPolicyConflict = "ML0103", Warning, "several workload PeerAuthentications select one workload: only the oldest is used";
    SelectorMatchesNothing = "ML0104", Warning, "a selector matches no workload";
    PortLevelWithoutSelector = "ML0105", Error, "portLevelMtls without a workload selector";
    PortLevelUnknownPort = "ML0106", Warning, "portLevelMtls names a port the workload does not have";
    PortLevelServicePort = "ML0107", Warning, "portLevelMtls names a Service port instead of the container port";
    RootNamespaceSelector = "ML0108", Warning, "a PeerAuthentication with a selector in the root namespace is ignored";
    PermissiveLeftOn = "ML0109", Info, "PERMISSIVE still accepts plaintext: migration not finished";
    ProbeBlockedByStrict = "ML0110", Warning, "kubelet's HTTP probes cannot reach a STRICT port without probe rewriting";
    PortLevelInvalid = "ML0111", Error, "portLevelMtls is empty or has a port outside 1..65535";
    MeshPolicyName = "ML0201", Warning, "a MeshPolicy not named `default` is ignored";
    PolicyName = "ML0202", Warning, "a namespace Policy must be named `default` and a `default` Policy must have no targets";
    PolicyTargetName = "ML0203", Warning, "a Policy target must be a short service name";
    PolicyPortNotFound = "ML0204", Warning, "a Policy port matches no port of the target service";
    PolicyTargetMissing = "ML0205", Warning, "a Policy targets a service that does not exist";
    DestinationRuleHostUnknown = "ML0301", Warning, "a DestinationRule host matches no service";
    DestinationRuleHostNotFqdn = "ML0302", Warning, "a DestinationRule host with a dot is taken as an FQDN";
    DestinationRuleDisablesMtls = "ML0303", Error, "a DestinationRule turns mTLS off toward a STRICT server";
    IstioMutualWithoutSidecar = "ML0304", Error, "ISTIO_MUTUAL toward a workload without a sidecar";
    TlsWithoutMode = "ML0305", Warning, "a DestinationRule `tls` block without `mode` means DISABLE";
    NoCaCertificates = "ML0306", Warning, "SIMPLE or MUTUAL without caCertificates does not verify the server";
    DestinationRuleMerged = "ML0307", Warning, "several DestinationRules for one host: the oldest trafficPolicy wins";
    SubsetSelectsNothing = "ML0308", Error, "a DestinationRule subset selects no pods";
    IstioMutualToDisable = "ML0309", Error, "ISTIO_MUTUAL toward a server whose mTLS is DISABLE";
    UserTlsToMesh = "ML0310", Error, "SIMPLE or MUTUAL toward a sidecar that expects Istio mTLS";
    MutualWithoutCertificate = "ML0311", Error, "MUTUAL without a client certificate or credentialName";
    UndefinedSubset = "ML0312", Error, "a VirtualService routes to a subset no DestinationRule defines";
    CredentialIgnoredBySidecars = "ML0313", Warning, "SIMPLE or MUTUAL with credentialName and no workloadSelector: sidecars send plaintext";
    IstioMutualToApiServer = "ML0314", Error, "ISTIO_MUTUAL covers the Kubernetes API server, which has no sidecar";
    PlaintextCallerToStrict = "ML0401", Warning, "callers without a sidecar cannot reach a STRICT port";
    AutoMtlsNamespaceDisable = "ML0402", Error, "auto mTLS sends plaintext to a STRICT workload in a DISABLE namespace";
    AutoMtlsBefore112 = "ML0403", Error, "before Istio 1.12 auto mTLS ignores workload and port DISABLE";
    AuthzNeedsMtls = "ML0501", Warning, "an AuthorizationPolicy matches on identities but the workload does not require mTLS";
    AuthzHttpFields = "ML0502", Info, "an AuthorizationPolicy rule uses HTTP fields the connection-level check cannot see";
    GatewayTlsMissing = "ML0601", Error, "an HTTPS or TLS Gateway server without `tls`";
    GatewayIstioMutualFields = "ML0602", Error, "a Gateway ISTIO_MUTUAL server with certificate fields";
    GatewayCredentialMissing = "ML0603", Error, "a Gateway SIMPLE or MUTUAL server without a certificate";
    GatewayPassthroughCerts = "ML0604", Warning, "certificates on a PASSTHROUGH Gateway server are ignored";
    GatewayTlsOnHttp = "ML0605", Error, "TLS settings on a plain-text Gateway server";
    GatewayMutualWithoutCa = "ML0606", Warning, "a MUTUAL Gateway server without caCertificates";
    ServiceSelectsNothing = "ML0701", Info, "a Service selects no workload";
    ServiceWithoutEndpoints = "ML0703", Info, "a Service without a selector has no Endpoints in the input";
    NoWorkloads = "ML0702", Info, "the input has no workloads: only policies are checked";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// `Kind namespace/name` of the resource it is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub resource: Option<String>,
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The template the document was rendered from, when the input is `helm template` output
    /// (its `# Source:` comment): where the reader edits what `file:line` shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub template: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>, at: &Location) -> Self {
        Self {
            code,
            severity: code.severity(),
            message: message.into(),
            resource: None,
            file: at.file.clone(),
            line: at.line,
            column: at.column,
            template: None,
        }
    }

    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub fn location(&self) -> Location {
        Location::new(self.file.clone(), self.line, self.column)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {} {}: {}", self.file, self.line, self.column, self.severity, self.code, self.message)?;
        if let Some(r) = &self.resource {
            write!(f, " [{r}]")?;
        }
        if let Some(t) = &self.template {
            write!(f, " (from {t})")?;
        }
        Ok(())
    }
}

/// Sets each diagnostic's `template` from the `# Source:` comments of the source it points
/// into. Each source named by a diagnostic is scanned once.
pub fn attribute_templates(sources: &[Source], diagnostics: &mut [Diagnostic]) {
    if diagnostics.is_empty() {
        return;
    }
    let by_name: HashMap<&str, &Source> = sources.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut scanned: HashMap<&str, RenderedTemplates> = HashMap::new();
    for d in diagnostics.iter_mut() {
        let Some(source) = by_name.get(d.file.as_str()) else { continue };
        let templates = scanned.entry(source.name.as_str()).or_insert_with(|| RenderedTemplates::of(&source.text));
        d.template = templates.at(d.line).map(str::to_owned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {c}");
            assert!(c.as_str().starts_with("ML") && c.as_str().len() == 6);
        }
    }
}
