//! The plugin configuration (docs/filter-and-host.md) and what the filter keeps from it after
//! `on_configure`: the compiled policy (docs/compiled-policy.md), or, in builds with the
//! `yaml-config` feature, the mesh's YAML compiled here.

use meshlock_core::compile::{CompiledError, CompiledPolicy, SCHEMA};
use meshlock_core::enforce::{self, Decision, InboundPolicy, OutboundPolicy, PeerFacts};
use read::{push_all, push_uint};

mod read;

// The configuration's types live in the core, where the writers (CLI, host, playground) find
// the same definition the filter reads.
pub use meshlock_core::compile::plugin::{Direction, FilterKind, LogSetting, PluginConfig, WorkloadRef};

/// Why a plugin configuration cannot be used. `on_configure` logs it on one line and returns
/// false, so Envoy refuses the configuration (fail closed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    Missing,
    NoPolicy,
    BothForms,
    YamlNotBuilt,
    NoWorkload,
    Compiled(CompiledError),
    MissingPart(&'static str),
    Json(String),
    Version(String),
    Unreadable(usize),
    Input(String),
    Query(String),
    OutboundNetwork,
}

impl From<CompiledError> for ConfigError {
    fn from(e: CompiledError) -> Self {
        Self::Compiled(e)
    }
}

impl ConfigError {
    /// The message, built without `core::fmt` so that the module's refusal path does not pull
    /// in the formatting machinery; `Display` writes the same.
    pub fn message(&self) -> String {
        let mut m = String::new();
        match self {
            Self::Missing => m.push_str("no plugin configuration"),
            Self::NoPolicy => m.push_str(
                "the plugin configuration needs `compiled` (meshlock compile) or, in YAML builds, `policies`",
            ),
            Self::BothForms => m.push_str("the plugin configuration has both `compiled` and `policies`; give one"),
            Self::YamlNotBuilt => m.push_str(
                "this build of the filter reads only compiled policies: `policies` (YAML) needs the yaml-config build; run `meshlock compile`",
            ),
            Self::NoWorkload => m.push_str("`policies` needs `workload`"),
            Self::Compiled(e) => compiled_message(&mut m, e),
            Self::MissingPart(part) => push_all(&mut m, &["the compiled policy has no ", part, " part"]),
            Self::Json(e) => push_all(&mut m, &["plugin configuration is not valid JSON for meshlock: ", e]),
            Self::Version(e) => push_all(&mut m, &["invalid istioVersion: ", e]),
            Self::Unreadable(n) => {
                m.push_str("policies: ");
                push_uint(&mut m, *n as u64);
                m.push_str(" document(s) could not be parsed");
            }
            Self::Input(e) => push_all(&mut m, &["policies: ", e]),
            Self::Query(e) => m.push_str(e),
            Self::OutboundNetwork => m.push_str(
                "direction outbound needs the HTTP filter (the upstream certificate is checked on response headers)",
            ),
        }
        m
    }
}

/// [`CompiledError`]'s message as the core words it (a test holds the two equal).
fn compiled_message(m: &mut String, e: &CompiledError) {
    let schema = |m: &mut String| {
        m.push_str(" is not supported (this build reads schema ");
        push_uint(m, u64::from(SCHEMA));
        m.push(')');
    };
    match e {
        CompiledError::NoSchema => {
            m.push_str("compiled policy has no `schema` (this build reads schema ");
            push_uint(m, u64::from(SCHEMA));
            m.push(')');
        }
        CompiledError::Schema(n) => {
            m.push_str("compiled policy schema ");
            push_uint(m, *n);
            schema(m);
        }
        CompiledError::Json(e) => push_all(m, &["compiled policy is not valid: ", e]),
        CompiledError::Invalid(e) => push_all(m, &["compiled policy: ", e]),
        // A variant added to the core later (the test of this function lists every variant).
        _ => m.push_str("compiled policy is not valid"),
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ConfigError {}

/// What the filter enforces, resolved once at configuration time.
#[derive(Debug, Clone)]
pub struct Guard {
    pub kind: FilterKind,
    pub log_decisions: bool,
    pub enforcement: Enforcement,
}

#[derive(Debug, Clone)]
pub enum Enforcement {
    Inbound(InboundPolicy),
    /// Secure naming for every destination service (per port where they differ).
    Outbound(Vec<OutboundPolicy>),
}

/// A decision plus what the filter reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The core decided.
    Core(Decision),
    /// The host did not give what the decision needs (no `destination.port`, an authority that
    /// names no known service): refused, fail closed.
    Refused(&'static str),
}

impl Verdict {
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Core(d) if d.is_allow())
    }
    pub fn verdict(&self) -> &'static str {
        match self {
            Self::Core(d) => d.verdict(),
            Self::Refused(_) => "deny",
        }
    }
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Core(d) => d.reason(),
            Self::Refused(r) => r,
        }
    }
    /// The Envoy stat name this decision increments.
    pub fn metric_name(&self) -> String {
        meshlock_core::compile::plugin::decision_metric(self.verdict(), self.reason())
    }
}

impl Guard {
    /// Reads the plugin configuration. `root_id` is Envoy's `plugin_root_id`, used only when
    /// the configuration does not say which filter kind it is.
    pub fn configure(json: &[u8], root_id: Option<&str>) -> Result<Self, ConfigError> {
        if json.is_empty() {
            return Err(ConfigError::Missing);
        }
        let root = read::parse(json).map_err(|e| ConfigError::Json(e.message()))?;
        let cfg = read::plugin(&root).map_err(|e| ConfigError::Json(e.message()))?;
        let kind = cfg.kind.unwrap_or_else(|| kind_from_root_id(root_id));
        if cfg.direction == Direction::Outbound && kind == FilterKind::Network {
            return Err(ConfigError::OutboundNetwork);
        }
        let compiled = match (cfg.compiled, &cfg.policies) {
            (Some(value), None) => read::compiled_policy(value)?,
            (None, Some(yaml)) => compile_yaml(&cfg, yaml)?,
            (Some(_), Some(_)) => return Err(ConfigError::BothForms),
            (None, None) => return Err(ConfigError::NoPolicy),
        };
        let enforcement = match cfg.direction {
            Direction::Inbound => Enforcement::Inbound(compiled.inbound.ok_or(ConfigError::MissingPart("inbound"))?),
            Direction::Outbound => {
                Enforcement::Outbound(compiled.outbound.ok_or(ConfigError::MissingPart("outbound"))?)
            }
        };
        Ok(Self { kind, log_decisions: cfg.log == Some(LogSetting::Decisions), enforcement })
    }

    /// One-line summary for the configuration log.
    pub fn summary(&self) -> String {
        let kind = match self.kind {
            FilterKind::Http => "http",
            FilterKind::Network => "network",
        };
        let mut s = String::new();
        match &self.enforcement {
            Enforcement::Inbound(p) => {
                let workload: &str = &p.workload;
                push_all(
                    &mut s,
                    &["meshlock: inbound ", kind, " filter for ", workload, ": mode ", p.default_mode.as_str()],
                );
                for (i, (port, m)) in p.port_modes.iter().enumerate() {
                    s.push_str(if i == 0 { ", ports " } else { "," });
                    push_uint(&mut s, u64::from(*port));
                    push_all(&mut s, &["=", m.as_str()]);
                }
                s.push_str(", trust domains [");
                for (i, domain) in p.trust_domains.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(domain);
                }
                s.push_str("], ");
                push_uint(&mut s, (p.authz.allow.len() + p.authz.deny.len()) as u64);
                s.push_str(" authorization polic(ies)");
            }
            Enforcement::Outbound(ps) => {
                push_all(&mut s, &["meshlock: outbound ", kind, " filter: secure naming for "]);
                push_uint(&mut s, ps.len() as u64);
                s.push_str(" service(s)");
            }
        }
        s
    }

    /// Inbound: one connection (network) or request (HTTP).
    pub fn decide_inbound(&self, port: Option<u16>, peer: &PeerFacts<'_>) -> Verdict {
        let Enforcement::Inbound(policy) = &self.enforcement else {
            return Verdict::Refused("not_inbound");
        };
        let Some(port) = port else {
            return Verdict::Refused("no_destination_port");
        };
        Verdict::Core(enforce::decide_inbound(policy, port, peer))
    }

    /// Outbound: the upstream's first URI SAN for a request to `authority`. An entry for the
    /// authority's port wins over the host's all-ports entry.
    pub fn decide_outbound(&self, authority: Option<&str>, upstream_san: Option<&str>) -> Verdict {
        self.decide_outbound_upstream(authority, true, upstream_san)
    }

    /// [`Guard::decide_outbound`] for an upstream reached over TLS (`upstream_tls`) or not.
    pub fn decide_outbound_upstream(
        &self,
        authority: Option<&str>,
        upstream_tls: bool,
        upstream_san: Option<&str>,
    ) -> Verdict {
        let Enforcement::Outbound(policies) = &self.enforcement else {
            return Verdict::Refused("not_outbound");
        };
        let Some((host, port)) = authority.map(split_port) else {
            return Verdict::Refused("no_authority");
        };
        let Some(policy) = meshlock_core::compile::outbound_entry(policies, host, port) else {
            return Verdict::Refused("unknown_service");
        };
        Verdict::Core(enforce::decide_outbound_upstream(policy, upstream_tls, upstream_san))
    }
}

/// The `policies` form: the mesh's YAML, compiled here for the configured workload.
#[cfg(feature = "yaml-config")]
fn compile_yaml(cfg: &read::Plugin<'_>, yaml: &str) -> Result<CompiledPolicy, ConfigError> {
    use meshlock_core::{Analysis, IstioVersion, Options, Source, UnusableInput};
    let istio_version = cfg
        .istio_version
        .as_deref()
        .map(str::parse::<IstioVersion>)
        .transpose()
        .map_err(|e| ConfigError::Version(e.to_string()))?;
    let workload = cfg.workload.as_ref().ok_or(ConfigError::NoWorkload)?;
    let analysis = Analysis::new(&[Source::new("policies", yaml)], &Options { istio_version, ..Options::default() });
    analysis.usable().map_err(|e| match e {
        UnusableInput::Unreadable(n) => ConfigError::Unreadable(n),
        other => ConfigError::Input(other.to_string()),
    })?;
    analysis
        .compile(&format!("{}/{}", workload.namespace, workload.name))
        .map_err(|e| ConfigError::Query(e.to_string()))
}

#[cfg(not(feature = "yaml-config"))]
fn compile_yaml(_cfg: &read::Plugin<'_>, _yaml: &str) -> Result<CompiledPolicy, ConfigError> {
    Err(ConfigError::YamlNotBuilt)
}

fn kind_from_root_id(root_id: Option<&str>) -> FilterKind {
    match root_id {
        Some(id) if id.ends_with("network") || id.ends_with("tcp") => FilterKind::Network,
        _ => FilterKind::Http,
    }
}

/// `host:port` → (`host`, port); `[v6]:port` → (`[v6]`, port); `host` → (`host`, None).
fn split_port(authority: &str) -> (&str, Option<u16>) {
    if authority.ends_with(']') {
        return (authority, None);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, port.parse().ok())
        }
        _ => (authority, None),
    }
}

#[cfg(test)]
mod tests;
