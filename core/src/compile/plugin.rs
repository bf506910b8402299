//! The plugin configuration: the JSON Envoy hands the filter as its `configuration` (a
//! WasmPlugin's `pluginConfig`, the `value` of a bootstrap's wasm config). One type for both
//! sides: the filter reads it, the CLI, the host, the test runner and the playground write it.
//! `docs/filter-and-host.md` describes the fields.

use super::CompiledPolicy;
use serde::{Deserialize, Serialize};

/// The plugin configuration JSON, exactly as Envoy's `configuration` value carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    pub direction: Direction,
    /// What this workload's proxy enforces, compiled by `meshlock compile` (schema 1). Kept as
    /// JSON here so that the filter reports a wrong schema version as such, not as a type error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled: Option<serde_json::Value>,
    /// With `policies`: the workload to compile them for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadRef>,
    /// The same YAML the CLI reads: policies plus the workload's Deployment/Service. Read only
    /// by filter builds with the `yaml-config` feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub istio_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogSetting>,
    /// Which kind of Envoy filter this plugin instance is. Optional: without it the root id
    /// decides (`…network` or `…tcp` → network), else HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FilterKind>,
}

impl PluginConfig {
    /// The shipped form: the part of `compiled` for `direction` (an inbound filter carries no
    /// outbound part and the reverse), for a filter of `kind`.
    pub fn compiled(compiled: &CompiledPolicy, direction: Direction, kind: FilterKind, log: LogSetting) -> Self {
        let part = match direction {
            Direction::Inbound => compiled.for_inbound(),
            Direction::Outbound => compiled.for_outbound(),
        };
        Self {
            direction,
            // A CompiledPolicy is plain data (strings, numbers, maps with string keys): it
            // always serializes.
            compiled: serde_json::to_value(part).ok(),
            workload: None,
            policies: None,
            istio_version: None,
            log: Some(log),
            kind: Some(kind),
        }
    }

    /// The YAML form, which only `yaml-config` builds of the filter read: the filter compiles
    /// `policies` for `workload` itself in `on_configure`.
    pub fn yaml(workload: WorkloadRef, policies: String, istio_version: Option<String>, kind: FilterKind) -> Self {
        Self {
            direction: Direction::Inbound,
            compiled: None,
            workload: Some(workload),
            policies: Some(policies),
            istio_version,
            log: Some(LogSetting::Decisions),
            kind: Some(kind),
        }
    }

    /// The JSON text Envoy carries.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadRef {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSetting {
    /// One log line per decision.
    Decisions,
    /// Only configuration problems are logged.
    Off,
}

/// Which Envoy filter the module is loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterKind {
    /// `envoy.filters.http.wasm`: decide on the request headers, local reply on deny.
    Http,
    /// `envoy.filters.network.wasm`: decide on the first downstream data, close on deny.
    Network,
}

impl FilterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Network => "network",
        }
    }

    /// The root id (and vm id) the filter is loaded under as this kind: `meshlock_http`,
    /// `meshlock_network`. The filter reads a root id ending in `network` (or `tcp`) as the
    /// network filter when the configuration does not name its kind.
    pub fn root_id(self) -> String {
        format!("meshlock_{}", self.as_str())
    }
}

/// The prefix of the filter's counters, `meshlock.decisions.<verdict>.<reason>`: what Envoy's
/// `/stats` shows (the host's metrics too) and what the tests and the suite runner read.
pub const DECISIONS_METRIC_PREFIX: &str = "meshlock.decisions";

/// The counter one decision increments. Joined without `core::fmt`: the filter names its
/// counters with it, and keeps the formatting machinery out of its module.
pub fn decision_metric(verdict: &str, reason: &str) -> String {
    let mut name = String::from(DECISIONS_METRIC_PREFIX);
    for part in [".", verdict, ".", reason] {
        name.push_str(part);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_form_round_trips_and_omits_what_it_does_not_carry() {
        let compiled = CompiledPolicy {
            schema: super::super::SCHEMA,
            workload: "foo/httpbin".to_owned(),
            identity: "spiffe://cluster.local/ns/foo/sa/httpbin".to_owned(),
            inbound: None,
            outbound: Some(Vec::new()),
        };
        let cfg = PluginConfig::compiled(&compiled, Direction::Inbound, FilterKind::Network, LogSetting::Off);
        let json = cfg.to_json();
        assert!(json.starts_with(r#"{"direction":"inbound","compiled":{"#), "{json}");
        assert!(json.ends_with(r#""log":"off","kind":"network"}"#), "{json}");
        assert!(!json.contains("outbound") && !json.contains("policies"), "{json}");
        let back: PluginConfig = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, cfg);
        assert!(serde_json::from_str::<PluginConfig>(r#"{"direction":"inbound","extra":1}"#).is_err());
    }
}
