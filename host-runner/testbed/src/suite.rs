//! `meshlock test`: policy test suites (the format: docs/contracts.md, "Test suites") run through the filter in the
//! host, every case over a real in-memory rustls connection with certificates the test CA mints.
//!
//! Each case runs twice, through the module loaded as a network filter and as an HTTP filter
//! (when the client sends an HTTP request), and both must agree with the expectation.

mod junit;
mod outbound;

use crate::ca::{ChainShape, IssuerKind, LeafSpec, TestCa, Validity};
use crate::datapath::memory::{Client, ClientIdentity, ClientSetup, Exchange, exchange};
use crate::datapath::{ConnMeta, FilterAction, FilterKind, Listener, ServerTls};
pub use junit::write_junit;
use meshlock_core::{Analysis, Options, Source};
use meshlock_proxy_host::{FilterModule, FilterVm, PluginSettings};
pub use outbound::{OutboundCase, OutboundExpect, UpstreamForm};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// Calls the workload makes through its client-side sidecar (host target only).
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
    /// Outbound cases: run on the host target; the Envoy target runs `cases` only.
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
        file: file.clone(),
        // serde_yaml's message carries the path and "at line L column C".
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

/// What one run of a case through one filter kind showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub decision: Decision,
    pub stage: Stage,
    /// `connection.mtls` as the filter saw it.
    pub mtls: bool,
    /// The filter's metric reason (`plaintext`, `mtls_peer`, …) or the handshake error.
    pub reason: String,
    /// How it showed: `closed`, `403`, `200 from upstream`, `TLS alert …`.
    pub effect: String,
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} ({}), mtls={}", self.decision.as_str(), self.stage.as_str(), self.reason, self.mtls)
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseReport {
    pub name: String,
    pub client: String,
    pub port: u16,
    pub passed: bool,
    /// Through the network filter.
    pub network: Result<Observed, String>,
    /// Through the HTTP filter (clients that send HTTP only).
    pub http: Option<Result<Observed, String>>,
    pub problems: Vec<String>,
    pub duration: Duration,
}

impl CaseReport {
    /// The line `meshlock test` prints.
    pub fn line(&self) -> String {
        let status = if self.passed { "ok  " } else { "FAIL" };
        let what = match &self.network {
            Ok(o) => o.to_string(),
            Err(e) => format!("error: {e}"),
        };
        let mut effects = Vec::new();
        if let Ok(o) = &self.network {
            let label = if self.client.starts_with("upstream ") { "outbound" } else { "network" };
            effects.push(format!("{label}: {}", o.effect));
        }
        if let Some(Ok(o)) = &self.http {
            effects.push(format!("http: {}", o.effect));
        }
        let mut line =
            format!("{status} {} [port {}, {}]: {what}; {}", self.name, self.port, self.client, effects.join(", "));
        for p in &self.problems {
            line.push_str("\n       ");
            line.push_str(p);
        }
        line
    }
}

/// The result of one suite.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    pub file: String,
    pub cases: Vec<CaseReport>,
    pub startup: Duration,
    pub duration: Duration,
}

impl SuiteReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// Runs suites through one compiled filter module.
pub struct Runner<'a> {
    module: &'a FilterModule,
    ca: TestCa,
}

impl fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner").finish_non_exhaustive()
    }
}

const TRUST_DOMAIN: &str = "cluster.local";
const SERVER_NAME: &str = "localhost";

impl<'a> Runner<'a> {
    pub fn new(module: &'a FilterModule) -> Result<Self, SuiteError> {
        let ca = TestCa::generate(TRUST_DOMAIN)
            .map_err(|e| SuiteError::Setup { file: String::new(), message: e.to_string() })?;
        Ok(Self { module, ca })
    }

    /// The plugin configuration the filter gets for a suite (the same for Envoy): the suite's
    /// policies compiled natively, as `meshlock compile` does, before any VM starts.
    pub fn plugin_config(suite: &Suite, kind: FilterKind) -> Result<String, SuiteError> {
        crate::envoy::plugin_configuration(&suite.workload, &suite.policies, suite.istio_version.as_deref(), kind)
            .map_err(|message| SuiteError::Configuration { file: suite.file.clone(), message })
    }

    fn start_vm(&self, suite: &Suite, kind: FilterKind) -> Result<FilterVm, SuiteError> {
        let settings = PluginSettings::new(Self::plugin_config(suite, kind)?, &kind.root_id());
        let vm = self
            .module
            .start(settings)
            .map_err(|e| SuiteError::Setup { file: suite.file.clone(), message: e.to_string() })?;
        if !vm.configured() {
            let why = vm
                .logs()
                .iter()
                .rev()
                .find(|l| l.level >= 3)
                .map_or_else(|| "on_configure returned false".to_owned(), |l| l.message.clone());
            return Err(SuiteError::Configuration { file: suite.file.clone(), message: why });
        }
        Ok(vm)
    }

    /// The server certificate: the workload's SPIFFE ID (from the core), `localhost`.
    fn server_tls(&self, suite: &Suite) -> Result<ServerTls, SuiteError> {
        let identity = workload_identity(suite)?;
        let leaf = self
            .ca
            .issue(&LeafSpec {
                dns: vec![SERVER_NAME.to_owned()],
                ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                ..LeafSpec::spiffe(&identity)
            })
            .map_err(|e| SuiteError::Setup { file: suite.file.clone(), message: e.to_string() })?;
        Ok(ServerTls { chain: vec![leaf.cert_der], key: leaf.key_der, roots: vec![self.ca.root_der().to_vec()] })
    }

    fn client_for(&self, form: &ClientForm) -> Result<Client, String> {
        client_for(&self.ca, form)
    }

    /// Runs every case of a suite.
    pub fn run(&self, suite: &Suite) -> Result<SuiteReport, SuiteError> {
        let started = Instant::now();
        let mut net_vm = self.start_vm(suite, FilterKind::Network)?;
        let mut http_vm = self.start_vm(suite, FilterKind::Http)?;
        let startup = started.elapsed();
        let server = self.server_tls(suite)?;
        let setup_err =
            |e: crate::datapath::DataPathError| SuiteError::Setup { file: suite.file.clone(), message: e.to_string() };
        let net = Listener::new(&server, FilterKind::Network).map_err(setup_err)?;
        let http = Listener::new(&server, FilterKind::Http).map_err(setup_err)?;
        let mut cases = Vec::new();
        for (i, case) in suite.cases.iter().enumerate() {
            let case_started = Instant::now();
            let conn_id = u64::try_from(i).unwrap_or(u64::MAX);
            let network = self.run_once(&mut net_vm, &net, case, conn_id);
            let http_result = case.client.sends_http().then(|| self.run_once(&mut http_vm, &http, case, conn_id));
            cases.push(judge(case, network, http_result, case_started.elapsed()));
        }
        for case in &suite.outbound {
            let case_started = Instant::now();
            let workload = (suite.workload.as_str(), suite.policies.as_str(), suite.istio_version.as_deref());
            let observed = outbound::run_case(self.module, &self.ca, &suite.file, workload, case)?;
            cases.push(judge_outbound(case, observed, case_started.elapsed()));
        }
        Ok(SuiteReport { file: suite.file.clone(), cases, startup, duration: started.elapsed() })
    }

    /// One case through one filter kind.
    pub fn run_once(
        &self,
        vm: &mut FilterVm,
        listener: &Listener,
        case: &Case,
        conn_id: u64,
    ) -> Result<Observed, String> {
        let mut client = self.client_for(&case.client)?;
        let setup = ClientSetup::http_get(
            vec![self.ca.root_der().to_vec()],
            SERVER_NAME,
            &format!("{SERVER_NAME}:{}", case.port),
        );
        if let Client::Raw(bytes) = &mut client
            && bytes.is_empty()
        {
            bytes.clone_from(&setup.request);
        }
        let meta = ConnMeta {
            id: conn_id,
            source: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
            destination: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), case.port),
        };
        let before = vm.metrics();
        let ex = exchange(listener, vm, &meta, &client, &setup).map_err(|e| e.to_string())?;
        let after = vm.metrics();
        observe(&ex, &decision_metrics(&before, &after))
    }
}

/// The SPIFFE ID of the suite's workload (the server certificate's URI SAN), from the core.
pub fn workload_identity(suite: &Suite) -> Result<String, SuiteError> {
    workload_identity_of(&suite.workload, &suite.policies, suite.istio_version.as_deref())
        .map_err(|message| SuiteError::Configuration { file: suite.file.clone(), message })
}

/// The SPIFFE ID of `workload` in `policies`, from the core.
fn workload_identity_of(workload: &str, policies: &str, istio_version: Option<&str>) -> Result<String, String> {
    let options = Options { istio_version: istio_version.and_then(|v| v.parse().ok()) };
    let analysis = Analysis::new(&[Source::new("policies", policies)], &options);
    analysis.workload(workload).map(|(_, w)| w.identity.clone()).map_err(|e| e.to_string())
}

/// An outbound case's report: the decision, and the reason when the case names one.
fn judge_outbound(case: &OutboundCase, observed: Result<Observed, String>, duration: Duration) -> CaseReport {
    let mut problems = Vec::new();
    match &observed {
        Ok(o) => {
            if o.decision.as_str() != case.expect.decision {
                problems.push(format!("expected {}, got {o}", case.expect.decision));
            }
            if let Some(reason) = &case.expect.reason
                && reason != &o.reason
            {
                problems.push(format!("expected reason {reason}, got {}", o.reason));
            }
        }
        Err(e) => problems.push(format!("outbound: {e}")),
    }
    CaseReport {
        name: case.name.clone(),
        client: case.upstream.to_string(),
        port: case.to.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(0),
        passed: problems.is_empty(),
        network: observed,
        http: None,
        problems,
        duration,
    }
}

/// The client a form stands for, its certificate minted by `ca`.
pub fn client_for(ca: &TestCa, form: &ClientForm) -> Result<Client, String> {
    Ok(match form {
        ClientForm::Plaintext => Client::Raw(Vec::new()),
        ClientForm::Garbage => Client::Raw(GARBAGE.to_vec()),
        ClientForm::TruncatedHello => Client::TruncatedHello,
        ClientForm::TlsNoCert => Client::Tls(None),
        ClientForm::Identity { uris, issuer, validity, chain, tls12_only } => {
            let spec = LeafSpec {
                common_name: "client".to_owned(),
                uris: uris.clone(),
                dns: if uris.is_empty() { vec!["client.local".to_owned()] } else { Vec::new() },
                issuer: *issuer,
                validity: *validity,
                chain: *chain,
                ..LeafSpec::default()
            };
            let leaf = ca.issue(&spec).map_err(|e| e.to_string())?;
            let identity = ClientIdentity { chain: leaf.chain_der(), key: leaf.key_der };
            if *tls12_only { Client::Tls12(Some(identity)) } else { Client::Tls(Some(identity)) }
        }
    })
}

/// Bytes that are neither a TLS record nor an HTTP request.
pub const GARBAGE: &[u8] = b"\x00\x01\x02\x03 this is neither TLS nor HTTP \xff\xfe\r\n\r\n";

/// The `meshlock.decisions.<verdict>.<reason>` counters that moved.
fn decision_metrics(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<(String, String)> {
    after
        .iter()
        .filter(|(k, v)| before.get(*k).copied().unwrap_or(0) < **v)
        .filter_map(|(k, _)| k.strip_prefix(meshlock_core::compile::plugin::DECISIONS_METRIC_PREFIX))
        .filter_map(|rest| rest.strip_prefix('.')?.split_once('.'))
        .map(|(v, r)| (v.to_owned(), r.to_owned()))
        .collect()
}

fn observe(ex: &Exchange, counted: &[(String, String)]) -> Result<Observed, String> {
    let o = &ex.outcome;
    if let Some(e) = &o.vm_error {
        return Err(format!("filter VM failed: {e}"));
    }
    if let Some(e) = &o.handshake_error {
        if !counted.is_empty() {
            return Err(format!("the handshake failed ({e}) yet the filter counted a decision"));
        }
        let effect = match &ex.client_tls_error {
            Some(c) => format!("handshake failed, client saw: {c}"),
            None => "handshake failed".to_owned(),
        };
        // `invalid peer certificate: certificate expired: verification time …` → the first
        // two parts.
        let reason = e.splitn(3, ": ").take(2).collect::<Vec<_>>().join(": ");
        return Ok(Observed { decision: Decision::Deny, stage: Stage::Handshake, mtls: false, reason, effect });
    }
    if let Some(e) = &o.codec_error {
        return Err(format!("the HTTP codec rejected the request: {e}"));
    }
    let [(verdict, reason)] = counted else {
        return Err(format!("expected exactly one decision metric to move, saw {counted:?}"));
    };
    let (decision, effect) = match &o.filter {
        Some(FilterAction::Allowed) => {
            if ex.upstream_received.is_empty() {
                return Err("the filter continued but nothing reached the upstream".to_owned());
            }
            let effect = match ex.response_status() {
                Some(s) => format!("{s} from upstream"),
                None if !ex.response.is_empty() => "upstream answered".to_owned(),
                None => "forwarded".to_owned(),
            };
            (Decision::Allow, effect)
        }
        Some(FilterAction::Closed) => (Decision::Deny, "closed".to_owned()),
        Some(FilterAction::LocalReply(r)) => {
            if ex.response_status() != Some(u16::try_from(r.status).unwrap_or(0)) {
                return Err(format!(
                    "the filter replied {} but the client read {:?}",
                    r.status,
                    String::from_utf8_lossy(&ex.response)
                ));
            }
            (Decision::Deny, format!("{} local reply", r.status))
        }
        Some(FilterAction::Held) => return Err("the filter paused without deciding".to_owned()),
        None => return Err("the filter never ran".to_owned()),
    };
    if decision.as_str() != verdict {
        return Err(format!("the filter counted {verdict} ({reason}) but the connection was {}", decision.as_str()));
    }
    if decision == Decision::Deny && !ex.upstream_received.is_empty() {
        return Err("denied, yet bytes reached the upstream".to_owned());
    }
    Ok(Observed { decision, stage: Stage::Filter, mtls: o.mtls, reason: reason.clone(), effect })
}

fn matches_expect(o: &Observed, e: &Expect) -> Option<String> {
    let mut wrong = Vec::new();
    if o.decision != e.decision {
        wrong.push(format!("decision {}", e.decision.as_str()));
    }
    if let Some(stage) = e.stage
        && stage != o.stage
    {
        wrong.push(format!("stage {}", stage.as_str()));
    }
    if let Some(mtls) = e.mtls
        && mtls != o.mtls
    {
        wrong.push(format!("mtls={mtls}"));
    }
    (!wrong.is_empty()).then(|| format!("expected {}, got {o}", wrong.join(", ")))
}

/// Checks both filter kinds' observations against the expectation and each other.
pub fn judge(
    case: &Case,
    network: Result<Observed, String>,
    http: Option<Result<Observed, String>>,
    duration: Duration,
) -> CaseReport {
    let mut problems = Vec::new();
    match &network {
        Ok(o) => {
            if let Some(p) = matches_expect(o, &case.expect) {
                problems.push(format!("network filter: {p}"));
            }
        }
        Err(e) => problems.push(format!("network filter: {e}")),
    }
    match &http {
        Some(Ok(o)) => {
            if let Some(p) = matches_expect(o, &case.expect) {
                problems.push(format!("http filter: {p}"));
            }
            // A handshake failure's text depends on when the client learned of it (an alert, or a
            // reset while it still wrote): only a filter's reason must match.
            let reason = |x: &Observed| (x.stage == Stage::Filter).then(|| x.reason.clone());
            if let Ok(n) = &network
                && (n.decision, n.stage, n.mtls, reason(n)) != (o.decision, o.stage, o.mtls, reason(o))
            {
                problems.push(format!("network and http filters disagree: {n} vs {o}"));
            }
        }
        Some(Err(e)) => problems.push(format!("http filter: {e}")),
        None => {}
    }
    CaseReport {
        name: case.name.clone(),
        client: case.client.to_string(),
        port: case.port,
        passed: problems.is_empty(),
        network,
        http,
        problems,
        duration,
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
