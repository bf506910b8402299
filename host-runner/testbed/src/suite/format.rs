//! The suite file format (docs/contracts.md, "Test suites"): its types, how a file is read and
//! checked, and its errors.

use crate::ca::{ChainShape, IssuerKind, Validity};
use meshlock_core::{Analysis, Options, Source};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    #[error("{file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: {message}")]
    Format { file: String, message: String },
    #[error("{file}: the filter refused its configuration: {message}")]
    Configuration { file: String, message: String },
    #[error("{file}: {message}")]
    Setup { file: String, message: String },
}

/// A client form of the suite format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientForm {
    Plaintext,
    Garbage,
    TruncatedHello,
    TlsNoCert,
    Identity {
        /// The URI SANs in order (`{identities: [A, B]}`); empty: a mesh certificate with no URI
        /// SAN (`{identity: none}`).
        uris: Vec<String>,
        issuer: IssuerKind,
        validity: Validity,
        chain: ChainShape,
        /// `tls: "1.2"`: the client offers TLS 1.2 only.
        tls12_only: bool,
    },
}

impl ClientForm {
    /// Whether the client sends an HTTP request (the HTTP filter can see it).
    pub fn sends_http(&self) -> bool {
        !matches!(self, Self::Garbage | Self::TruncatedHello)
    }
}

impl fmt::Display for ClientForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plaintext => f.write_str("plaintext"),
            Self::Garbage => f.write_str("garbage"),
            Self::TruncatedHello => f.write_str("truncated-hello"),
            Self::TlsNoCert => f.write_str("{tls: no-cert}"),
            Self::Identity { uris, issuer, validity, chain, tls12_only } => {
                match uris.as_slice() {
                    [] => f.write_str("{identity: none")?,
                    [one] => write!(f, "{{identity: {one}")?,
                    many => write!(f, "{{identities: [{}]", many.join(", "))?,
                }
                match issuer {
                    IssuerKind::Mesh => {}
                    IssuerKind::Untrusted => f.write_str(", issuer: untrusted")?,
                    IssuerKind::Intermediate => f.write_str(", issuer: intermediate")?,
                }
                match validity {
                    Validity::Current => {}
                    Validity::Expired => f.write_str(", validity: expired")?,
                    Validity::NotYetValid => f.write_str(", validity: not-yet-valid")?,
                }
                if *chain == ChainShape::Huge {
                    f.write_str(", chain: huge")?;
                }
                if *tls12_only {
                    f.write_str(", tls: \"1.2\"")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawClient {
    Word(String),
    Map(RawClientMap),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientMap {
    /// `no-cert`, or `"1.2"` (a YAML number 1.2 is read the same).
    #[serde(default)]
    tls: Option<serde_yaml::Value>,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    identities: Option<Vec<String>>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    validity: Option<String>,
    #[serde(default)]
    chain: Option<String>,
}

fn tls_word(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).map(|t| t.trim().to_owned()).unwrap_or_default(),
    }
}

impl TryFrom<RawClient> for ClientForm {
    type Error = String;

    fn try_from(raw: RawClient) -> Result<Self, String> {
        const FORMS: &str = "plaintext, garbage, truncated-hello, {tls: no-cert}, {identity: URI} or \
                             {identities: [URI, URI]} with optional issuer: untrusted|intermediate, \
                             validity: expired|not-yet-valid, chain: huge, tls: \"1.2\"; {identity: none}";
        let m = match raw {
            RawClient::Word(w) => {
                return match w.as_str() {
                    "plaintext" => Ok(Self::Plaintext),
                    "garbage" => Ok(Self::Garbage),
                    "truncated-hello" => Ok(Self::TruncatedHello),
                    other => Err(format!("unknown client `{other}` (expected one of {FORMS})")),
                };
            }
            RawClient::Map(m) => m,
        };
        let tls = m.tls.as_ref().map(tls_word);
        let uris = match (m.identity, m.identities) {
            (None, None) => {
                let certless = m.issuer.is_none() && m.validity.is_none() && m.chain.is_none();
                return match tls.as_deref() {
                    Some("no-cert") if certless => Ok(Self::TlsNoCert),
                    Some(other) => Err(format!(
                        "unknown `tls: {other}` (expected `tls: no-cert`, or `identity` for a client certificate)"
                    )),
                    None => Err(format!("invalid client (expected one of {FORMS})")),
                };
            }
            (Some(_), Some(_)) => return Err("give `identity` or `identities`, not both".to_owned()),
            (Some(identity), None) => {
                if identity == "none" {
                    Vec::new()
                } else {
                    vec![identity]
                }
            }
            (None, Some(list)) if list.len() >= 2 => list,
            (None, Some(_)) => return Err("`identities` lists two or more URIs (one: use `identity`)".to_owned()),
        };
        let issuer = match m.issuer.as_deref() {
            None | Some("mesh") => IssuerKind::Mesh,
            Some("untrusted") => IssuerKind::Untrusted,
            Some("intermediate") => IssuerKind::Intermediate,
            Some(other) => {
                return Err(format!("unknown `issuer: {other}` (expected `untrusted` or `intermediate`)"));
            }
        };
        let validity = match m.validity.as_deref() {
            None | Some("valid") => Validity::Current,
            Some("expired") => Validity::Expired,
            Some("not-yet-valid") => Validity::NotYetValid,
            Some(other) => {
                return Err(format!("unknown `validity: {other}` (expected `expired` or `not-yet-valid`)"));
            }
        };
        let chain = match m.chain.as_deref() {
            None => ChainShape::Plain,
            Some("huge") => ChainShape::Huge,
            Some(other) => return Err(format!("unknown `chain: {other}` (expected `huge`)")),
        };
        let tls12_only = match tls.as_deref() {
            None => false,
            Some("1.2") => true,
            Some(other) => return Err(format!("unknown `tls: {other}` with a certificate (expected `\"1.2\"`)")),
        };
        Ok(Self::Identity { uris, issuer, validity, chain, tls12_only })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// Where the connection was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The TLS handshake failed: the filter never ran.
    Handshake,
    /// The filter decided.
    Filter,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::Filter => "filter",
        }
    }
}

/// `expect:` of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub decision: Decision,
    pub stage: Option<Stage>,
    pub mtls: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawExpect {
    Word(String),
    Map(RawExpectMap),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectMap {
    decision: String,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    mtls: Option<bool>,
}

fn decision_of(s: &str) -> Result<Decision, String> {
    match s {
        "allow" => Ok(Decision::Allow),
        "deny" => Ok(Decision::Deny),
        other => Err(format!("unknown decision `{other}` (expected allow or deny)")),
    }
}

impl TryFrom<RawExpect> for Expect {
    type Error = String;

    fn try_from(raw: RawExpect) -> Result<Self, String> {
        match raw {
            RawExpect::Word(w) => Ok(Self { decision: decision_of(&w)?, stage: None, mtls: None }),
            RawExpect::Map(m) => Ok(Self {
                decision: decision_of(&m.decision)?,
                stage: match m.stage.as_deref() {
                    None => None,
                    Some("handshake") => Some(Stage::Handshake),
                    Some("filter") => Some(Stage::Filter),
                    Some(other) => {
                        return Err(format!("unknown stage `{other}` (expected handshake or filter)"));
                    }
                },
                mtls: m.mtls,
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSuite {
    #[serde(default)]
    policies: Option<OneOrMany>,
    #[serde(default)]
    resources: Option<serde_yaml::Value>,
    workload: String,
    #[serde(default)]
    istio_version: Option<String>,
    #[serde(default)]
    cases: Vec<RawCase>,
    /// Calls the workload makes through its client-side sidecar.
    #[serde(default)]
    outbound: Vec<OutboundCase>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    port: u16,
    #[serde(deserialize_with = "client_form")]
    client: ClientForm,
    #[serde(deserialize_with = "expect_form")]
    expect: Expect,
}

fn client_form<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ClientForm, D::Error> {
    let raw = RawClient::deserialize(d).map_err(|_| {
        serde::de::Error::custom(
            "invalid client (expected plaintext, garbage, truncated-hello or a mapping with `tls`, `identity` or \
             `identities`)",
        )
    })?;
    ClientForm::try_from(raw).map_err(serde::de::Error::custom)
}

fn expect_form<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Expect, D::Error> {
    let raw = RawExpect::deserialize(d)
        .map_err(|_| serde::de::Error::custom("invalid expect (expected allow, deny or {decision, stage, mtls})"))?;
    Expect::try_from(raw).map_err(serde::de::Error::custom)
}

/// One case of a suite.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub port: u16,
    pub client: ClientForm,
    pub expect: Expect,
}

/// A suite read from disk, its policies loaded.
#[derive(Debug, Clone)]
pub struct Suite {
    pub file: String,
    pub workload: String,
    pub istio_version: Option<String>,
    /// The policies as the filter receives them (one YAML stream).
    pub policies: String,
    pub cases: Vec<Case>,
    /// Outbound cases: calls through the workload's client-side sidecar (both targets).
    pub outbound: Vec<OutboundCase>,
}

fn read_policy_path(path: &Path, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("`{}`: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            let is_input = p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            if p.is_dir() || is_input {
                read_policy_path(&p, out)?;
            }
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    out.push((path.display().to_string(), text));
    Ok(())
}

/// Reads a suite file and the policies it names (relative to the suite's directory).
pub fn load_suite(path: &Path) -> Result<Suite, SuiteError> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| SuiteError::Read { file: file.clone(), message: e.to_string() })?;
    let raw: RawSuite = serde_yaml::from_str(&text).map_err(|e| SuiteError::Format {
        // `file:line:column`, as every other error of meshlock points at its input.
        file: e.location().map_or_else(|| file.clone(), |at| format!("{file}:{}:{}", at.line(), at.column())),
        // serde_yaml's message carries the field's path.
        message: e.to_string(),
    })?;
    let fmt_err = |message: String| SuiteError::Format { file: file.clone(), message };
    let mut sources = Vec::new();
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    match raw.policies {
        Some(OneOrMany::One(p)) => read_policy_path(&dir.join(p), &mut sources),
        Some(OneOrMany::Many(ps)) => ps.iter().try_for_each(|p| read_policy_path(&dir.join(p), &mut sources)),
        None => Ok(()),
    }
    .map_err(|message| SuiteError::Read { file: file.clone(), message })?;
    match raw.resources {
        None => {}
        Some(serde_yaml::Value::String(s)) => sources.push((format!("{file} (resources)"), s)),
        Some(serde_yaml::Value::Sequence(docs)) => {
            let mut text = String::new();
            for d in docs {
                let doc = serde_yaml::to_string(&d).map_err(|e| fmt_err(e.to_string()))?;
                text.push_str("---\n");
                text.push_str(&doc);
            }
            sources.push((format!("{file} (resources)"), text));
        }
        Some(_) => {
            return Err(fmt_err("`resources` must be a list of Kubernetes objects or a YAML string".to_owned()));
        }
    }
    if sources.is_empty() {
        return Err(fmt_err("no policies: give `policies:` (paths) or `resources:` (inline)".to_owned()));
    }
    if raw.cases.is_empty() && raw.outbound.is_empty() {
        return Err(fmt_err("no cases".to_owned()));
    }
    for c in &raw.outbound {
        c.validate().map_err(fmt_err)?;
    }
    if raw.workload.split_once('/').is_none_or(|(a, b)| a.is_empty() || b.is_empty()) {
        return Err(fmt_err(format!("workload `{}` is not NAMESPACE/NAME", raw.workload)));
    }
    // Policies that do not parse: say where, with the files' own names and lines (the filter
    // only sees the joined stream and would refuse it without a usable position).
    let analysis = Analysis::new(
        &sources.iter().map(|(n, t)| Source::new(n.as_str(), t.as_str())).collect::<Vec<_>>(),
        &Options::default(),
    );
    if analysis.unreadable() > 0 {
        let where_ = analysis
            .diagnostics()
            .iter()
            .filter(|d| d.severity == meshlock_core::Severity::Error)
            .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
            .collect::<Vec<_>>();
        return Err(SuiteError::Read {
            file: file.clone(),
            message: format!("policies that cannot be parsed: {}", where_.join("; ")),
        });
    }
    // The filter receives one YAML stream, like Envoy's configuration string.
    let policies = sources.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n---\n");
    Ok(Suite {
        file,
        workload: raw.workload,
        istio_version: raw.istio_version,
        policies,
        cases: raw
            .cases
            .into_iter()
            .map(|c| Case { name: c.name, port: c.port, client: c.client, expect: c.expect })
            .collect(),
        outbound: raw.outbound,
    })
}

/// What the upstream presents.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UpstreamForm {
    /// `plaintext`: the upstream speaks plaintext and the client side sends plaintext.
    Word(String),
    /// `{identity: URI}` (`none`: a mesh certificate without a URI SAN), optional
    /// `issuer: untrusted`.
    Tls {
        identity: String,
        #[serde(default)]
        issuer: Option<String>,
    },
}

impl std::fmt::Display for UpstreamForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Word(w) => write!(f, "upstream {w}"),
            Self::Tls { identity, issuer: None } => write!(f, "upstream {{identity: {identity}}}"),
            Self::Tls { identity, issuer: Some(i) } => write!(f, "upstream {{identity: {identity}, issuer: {i}}}"),
        }
    }
}

/// `expect:` of an outbound case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundExpect {
    pub decision: String,
    /// The filter's reason (`secure_naming`, `plaintext_upstream`), or `certificate_verify_failed`
    /// when the client side refused the chain before the filter ran.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One outbound case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundCase {
    pub name: String,
    /// `HOST:PORT` of the service called, as the request's authority names it.
    pub to: String,
    pub upstream: UpstreamForm,
    pub expect: OutboundExpect,
}

impl OutboundCase {
    /// Checks the forms once, when the suite is read.
    pub fn validate(&self) -> Result<(), String> {
        match &self.upstream {
            UpstreamForm::Word(w) if w == "plaintext" => {}
            UpstreamForm::Word(w) => {
                return Err(format!(
                    "outbound case `{}`: unknown upstream `{w}` (expected plaintext or {{identity: URI|none, issuer: untrusted}})",
                    self.name
                ));
            }
            UpstreamForm::Tls { issuer: Some(i), .. } if i != "untrusted" && i != "mesh" => {
                return Err(format!("outbound case `{}`: unknown `issuer: {i}` (expected untrusted)", self.name));
            }
            UpstreamForm::Tls { .. } => {}
        }
        if !matches!(self.expect.decision.as_str(), "allow" | "deny") {
            return Err(format!("outbound case `{}`: unknown decision `{}`", self.name, self.expect.decision));
        }
        if self.destination().is_none() {
            return Err(format!("outbound case `{}`: `to: {}` is not HOST:PORT", self.name, self.to));
        }
        Ok(())
    }

    /// The host and port of `to` (checked by [`OutboundCase::validate`]).
    pub fn destination(&self) -> Option<(&str, u16)> {
        let (host, port) = self.to.rsplit_once(':')?;
        Some((host, port.parse().ok()?))
    }

    /// Whether the client side originates Istio mTLS toward the upstream (it presents a
    /// certificate).
    pub fn originates_tls(&self) -> bool {
        matches!(self.upstream, UpstreamForm::Tls { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ClientForm, String> {
        let raw: RawClient = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        ClientForm::try_from(raw)
    }

    #[test]
    fn hostile_forms_parse_and_print_back() {
        for text in [
            "{identities: [spiffe://a/ns/x/sa/y, spiffe://b/ns/x/sa/y]}",
            "{identity: spiffe://a/ns/x/sa/y, issuer: intermediate}",
            "{identity: spiffe://a/ns/x/sa/y, issuer: intermediate, chain: huge}",
            "{identity: spiffe://a/ns/x/sa/y, validity: expired, tls: \"1.2\"}",
        ] {
            let form = parse(text).unwrap();
            assert_eq!(form.to_string(), text);
            assert_eq!(parse(&form.to_string()).unwrap(), form);
        }
        // An unquoted 1.2 is a YAML number; it means the same.
        let Ok(ClientForm::Identity { tls12_only: true, uris, .. }) =
            parse("{identity: spiffe://a/ns/x/sa/y, tls: 1.2}")
        else {
            panic!("tls: 1.2 not read");
        };
        assert_eq!(uris, vec!["spiffe://a/ns/x/sa/y"]);
    }

    #[test]
    fn malformed_hostile_forms_say_what_is_wrong() {
        for (text, says) in [
            ("{identities: [spiffe://a/ns/x/sa/y]}", "two or more"),
            ("{identity: spiffe://a/ns/x/sa/y, identities: [x, y]}", "not both"),
            ("{identity: spiffe://a/ns/x/sa/y, chain: long}", "unknown `chain: long`"),
            ("{identity: spiffe://a/ns/x/sa/y, tls: \"1.1\"}", "unknown `tls: 1.1`"),
            ("{identity: spiffe://a/ns/x/sa/y, issuer: other}", "`intermediate`"),
            ("{tls: no-cert, chain: huge}", "unknown `tls: no-cert`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
