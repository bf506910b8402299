//! The plugin configuration (docs/filter-and-host.md) and what the filter keeps from it after
//! `on_configure`: the compiled policy (docs/compiled-policy.md), or, in builds with the
//! `yaml-config` feature, the mesh's YAML compiled here.

use meshlock_core::compile::{CompiledError, CompiledPolicy};
use meshlock_core::enforce::{self, Decision, InboundPolicy, OutboundPolicy, PeerFacts};

mod read;

// The configuration's types live in the core, where the writers (CLI, host, playground) find
// the same definition the filter reads.
pub use meshlock_core::compile::plugin::{Direction, FilterKind, LogSetting, PluginConfig, WorkloadRef};

/// Why a plugin configuration cannot be used. `on_configure` logs it on one line and returns
/// false, so Envoy refuses the configuration (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("no plugin configuration")]
    Missing,
    #[error("the plugin configuration needs `compiled` (meshlock compile) or, in YAML builds, `policies`")]
    NoPolicy,
    #[error("the plugin configuration has both `compiled` and `policies`; give one")]
    BothForms,
    #[error(
        "this build of the filter reads only compiled policies: `policies` (YAML) needs the yaml-config build; run `meshlock compile`"
    )]
    YamlNotBuilt,
    #[error("`policies` needs `workload`")]
    NoWorkload,
    #[error("{0}")]
    Compiled(#[from] CompiledError),
    #[error("the compiled policy has no {0} part")]
    MissingPart(&'static str),
    #[error("plugin configuration is not valid JSON for meshlock: {0}")]
    Json(String),
    #[error("invalid istioVersion: {0}")]
    Version(String),
    #[error("policies: {0} document(s) could not be parsed")]
    Unreadable(usize),
    #[error("policies: {0}")]
    Input(String),
    #[error("{0}")]
    Query(String),
    #[error("direction outbound needs the HTTP filter (the upstream certificate is checked on response headers)")]
    OutboundNetwork,
}

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
        let cfg = read::plugin(json).map_err(|e| ConfigError::Json(e.to_string()))?;
        let kind = cfg.kind.unwrap_or_else(|| kind_from_root_id(root_id));
        if cfg.direction == Direction::Outbound && kind == FilterKind::Network {
            return Err(ConfigError::OutboundNetwork);
        }
        let compiled = match (&cfg.compiled, &cfg.policies) {
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
        match &self.enforcement {
            Enforcement::Inbound(p) => {
                let ports: Vec<String> = p.port_modes.iter().map(|(port, m)| format!("{port}={m}")).collect();
                format!(
                    "meshlock: inbound {kind} filter for {}: mode {}{}{}, trust domains [{}], {} authorization polic(ies)",
                    p.workload,
                    p.default_mode,
                    if ports.is_empty() { "" } else { ", ports " },
                    ports.join(","),
                    p.trust_domains.join(","),
                    p.authz.allow.len() + p.authz.deny.len()
                )
            }
            Enforcement::Outbound(ps) => {
                format!("meshlock: outbound {kind} filter: secure naming for {} service(s)", ps.len())
            }
        }
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
fn compile_yaml(cfg: &read::Plugin, yaml: &str) -> Result<CompiledPolicy, ConfigError> {
    use meshlock_core::{Analysis, IstioVersion, Options, Source, UnusableInput};
    let istio_version = cfg
        .istio_version
        .as_deref()
        .map(str::parse::<IstioVersion>)
        .transpose()
        .map_err(|e| ConfigError::Version(e.to_string()))?;
    let workload = cfg.workload.as_ref().ok_or(ConfigError::NoWorkload)?;
    let analysis = Analysis::new(&[Source::new("policies", yaml)], &Options { istio_version });
    analysis.usable().map_err(|e| match e {
        UnusableInput::Unreadable(n) => ConfigError::Unreadable(n),
        other => ConfigError::Input(other.to_string()),
    })?;
    analysis
        .compile(&format!("{}/{}", workload.namespace, workload.name))
        .map_err(|e| ConfigError::Query(e.to_string()))
}

#[cfg(not(feature = "yaml-config"))]
fn compile_yaml(_cfg: &read::Plugin, _yaml: &str) -> Result<CompiledPolicy, ConfigError> {
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
