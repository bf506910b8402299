//! The plugin configuration (DESIGN.md, "Filter plugin configuration") and what the filter keeps
//! from it after `on_configure`.

use meshlock_core::enforce::{self, Decision, InboundPolicy, OutboundPolicy, PeerFacts};
use meshlock_core::{Analysis, IstioVersion, Options, Source};
use serde::Deserialize;

/// The plugin configuration JSON, exactly as Envoy's `configuration` value carries it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    pub direction: Direction,
    pub workload: WorkloadRef,
    /// The same YAML the CLI reads: policies plus the workload's Deployment/Service.
    pub policies: String,
    #[serde(default)]
    pub istio_version: Option<String>,
    #[serde(default)]
    pub log: Option<LogSetting>,
    /// Which kind of Envoy filter this plugin instance is. Optional: without it the root id
    /// decides (`…network` or `…tcp` → network), else HTTP.
    #[serde(default)]
    pub kind: Option<FilterKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadRef {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSetting {
    /// One log line per decision.
    Decisions,
    /// Only configuration problems are logged.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterKind {
    Http,
    Network,
}

/// Why a plugin configuration cannot be used. `on_configure` logs it on one line and returns
/// false, so Envoy refuses the configuration (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("no plugin configuration")]
    Missing,
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
    /// Secure naming for every destination service in the policies.
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
        format!("meshlock.decisions.{}.{}", self.verdict(), self.reason())
    }
}

impl Guard {
    /// Reads the plugin configuration and runs the core once. `root_id` is Envoy's
    /// `plugin_root_id`, used only when the configuration does not say which filter kind it is.
    pub fn configure(json: &[u8], root_id: Option<&str>) -> Result<Self, ConfigError> {
        if json.is_empty() {
            return Err(ConfigError::Missing);
        }
        let cfg: PluginConfig = serde_json::from_slice(json).map_err(|e| ConfigError::Json(e.to_string()))?;
        let istio_version = cfg
            .istio_version
            .as_deref()
            .map(str::parse::<IstioVersion>)
            .transpose()
            .map_err(|e| ConfigError::Version(e.to_string()))?;
        let analysis = Analysis::new(&[Source::new("policies", cfg.policies.as_str())], &Options { istio_version });
        if analysis.unreadable() > 0 {
            return Err(ConfigError::Unreadable(analysis.unreadable()));
        }
        // A resource that could not be read as written would silently weaken enforcement.
        if let Some(d) = analysis.input_error() {
            return Err(ConfigError::Input(format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message)));
        }
        let kind = cfg.kind.unwrap_or_else(|| kind_from_root_id(root_id));
        let workload = format!("{}/{}", cfg.workload.namespace, cfg.workload.name);
        let enforcement = match cfg.direction {
            Direction::Inbound => {
                Enforcement::Inbound(analysis.inbound_policy(&workload).map_err(|e| ConfigError::Query(e.to_string()))?)
            }
            Direction::Outbound => {
                if kind == FilterKind::Network {
                    return Err(ConfigError::OutboundNetwork);
                }
                // The client workload must exist too: a typo must not pass silently.
                analysis.workload(&workload).map_err(|e| ConfigError::Query(e.to_string()))?;
                Enforcement::Outbound(analysis.outbound_policies())
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

    /// Outbound: the upstream's first URI SAN for a request to `authority`.
    pub fn decide_outbound(&self, authority: Option<&str>, upstream_san: Option<&str>) -> Verdict {
        let Enforcement::Outbound(policies) = &self.enforcement else {
            return Verdict::Refused("not_outbound");
        };
        let Some(host) = authority.map(strip_port) else {
            return Verdict::Refused("no_authority");
        };
        let Some(policy) = policies.iter().find(|p| meshlock_core::analysis::host_matches_query(&p.host, host)) else {
            return Verdict::Refused("unknown_service");
        };
        Verdict::Core(enforce::decide_outbound(policy, upstream_san))
    }
}

fn kind_from_root_id(root_id: Option<&str>) -> FilterKind {
    match root_id {
        Some(id) if id.ends_with("network") || id.ends_with("tcp") => FilterKind::Network,
        _ => FilterKind::Http,
    }
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
fn strip_port(authority: &str) -> &str {
    if authority.ends_with(']') {
        return authority;
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests;
