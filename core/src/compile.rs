//! The enforcement's input, resolved once: what one workload's proxy enforces, compiled from
//! the whole mesh's policies the way Istio's control plane resolves policy and ships each proxy
//! only what it needs. The filter reads this and never parses YAML or runs the analysis.
//!
//! Inbound: the workload's mode per port, the trust domains it accepts and the identity
//! conditions of the AuthorizationPolicies that select it. Outbound: for each destination
//! service (and port, where they differ), the SANs the client side accepts — decided by
//! [`crate::client::accepted_sans`], the function `reach` uses, so the compiled check and the
//! predicted one cannot drift. The format is versioned (`schema`); `docs/compiled-policy.md`
//! describes it.

use crate::analysis::{Analysis, QueryError, WorkloadView};
use crate::client::{accepted_sans, rule_sans, rule_tls};
use crate::enforce::{InboundPolicy, OutboundPolicy};
use serde::{Deserialize, Serialize};

pub mod plugin;

/// The schema this build writes and reads.
pub const SCHEMA: u32 = 1;

/// One workload's enforcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompiledPolicy {
    /// The format's version: [`SCHEMA`].
    pub schema: u32,
    /// `namespace/name`.
    pub workload: String,
    /// The workload's own SPIFFE ID: what its certificate carries.
    pub identity: String,
    /// The server side. Absent in a configuration shipped to an outbound filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<InboundPolicy>,
    /// The client side: secure naming per destination. Absent in a configuration shipped to an
    /// inbound filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<Vec<OutboundPolicy>>,
}

/// Why a compiled policy cannot be used (the filter refuses it: fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompiledError {
    #[error("compiled policy has no `schema` (this build reads schema {SCHEMA})")]
    NoSchema,
    #[error("compiled policy schema {0} is not supported (this build reads schema {SCHEMA})")]
    Schema(u64),
    #[error("compiled policy is not valid: {0}")]
    Json(String),
    #[error("compiled policy: {0}")]
    Invalid(String),
}

/// The schema this build reads, or why not.
fn check_schema(schema: Option<&serde_json::Value>) -> Result<(), CompiledError> {
    match schema {
        None => Err(CompiledError::NoSchema),
        Some(v) if v.as_u64() == Some(u64::from(SCHEMA)) => Ok(()),
        Some(v) => Err(CompiledError::Schema(v.as_u64().unwrap_or(0))),
    }
}

impl CompiledPolicy {
    /// Reads and checks a compiled policy: the schema first (so a newer format gets a clear
    /// reason, not an unknown-field error), then every field, unknown fields refused.
    pub fn from_json(json: &[u8]) -> Result<Self, CompiledError> {
        #[derive(Deserialize)]
        struct Probe {
            schema: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(json).map_err(|e| CompiledError::Json(e.to_string()))?;
        check_schema(probe.schema.as_ref())?;
        let policy: Self = serde_json::from_slice(json).map_err(|e| CompiledError::Json(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// [`CompiledPolicy::from_json`] for a policy already parsed as part of a larger document
    /// (the filter's plugin configuration).
    pub fn from_value(value: serde_json::Value) -> Result<Self, CompiledError> {
        check_schema(value.get("schema"))?;
        let policy: Self = serde_json::from_value(value).map_err(|e| CompiledError::Json(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// What serde cannot say: ports are 1..=65535, an inbound part accepts some trust domain.
    pub fn validate(&self) -> Result<(), CompiledError> {
        let bad = |what: String| Err(CompiledError::Invalid(what));
        if self.schema != SCHEMA {
            return Err(CompiledError::Schema(u64::from(self.schema)));
        }
        if let Some(inbound) = &self.inbound {
            if inbound.port_modes.iter().any(|(p, _)| *p == 0) {
                return bad("inbound port 0 is not a port".to_owned());
            }
            if inbound.trust_domains.is_empty() {
                return bad("inbound accepts no trust domain".to_owned());
            }
            let rules = inbound.authz.allow.iter().chain(&inbound.authz.deny).flat_map(|n| &n.rules);
            if rules.clone().any(|r| r.ports.contains(&0) || r.not_ports.contains(&0)) {
                return bad("an authorization rule names port 0".to_owned());
            }
        }
        if let Some(outbound) = &self.outbound
            && let Some(o) = outbound.iter().find(|o| o.port == Some(0) || o.host.is_empty())
        {
            return bad(format!("outbound entry for `{}` has no usable host or port", o.host));
        }
        if self.inbound.is_none() && self.outbound.is_none() {
            return bad("neither an inbound nor an outbound part".to_owned());
        }
        Ok(())
    }

    /// The same policy with only the part a filter of `direction` enforces: what one
    /// WasmPlugin carries.
    pub fn for_inbound(&self) -> Self {
        Self { outbound: None, ..self.clone() }
    }

    pub fn for_outbound(&self) -> Self {
        Self { inbound: None, ..self.clone() }
    }
}

/// The secure-naming entry for a request to `host` (FQDN, `name.namespace` or
/// `name.namespace.svc`) on `port`: the entry for that port wins over the host's all-ports
/// entry. The filter and the tests look entries up here and nowhere else.
pub fn outbound_entry<'a>(entries: &'a [OutboundPolicy], host: &str, port: Option<u16>) -> Option<&'a OutboundPolicy> {
    let for_host = || entries.iter().filter(|p| crate::analysis::host_matches_query(&p.host, host));
    for_host()
        .find(|p| p.port.is_some() && p.port == port)
        .or_else(|| for_host().find(|p| p.port.is_none()))
        .or_else(|| for_host().next())
}

impl Analysis {
    /// Compiles what `namespace/name`'s proxy enforces, both directions.
    pub fn compile(&self, workload: &str) -> Result<CompiledPolicy, QueryError> {
        let (_, w) = self.workload(workload)?;
        Ok(CompiledPolicy {
            schema: SCHEMA,
            workload: w.key(),
            identity: w.identity.clone(),
            inbound: Some(self.inbound_policy_of(w)),
            outbound: Some(self.secure_naming_for(w)),
        })
    }

    /// The inbound part for every workload (not the endpoint-only kinds: no proxy of ours runs
    /// there), in input order: what a whole mesh's inbound
    /// WasmPlugins carry (linear in the mesh; the outbound part is per client and O(services)).
    pub fn compile_inbound_all(&self) -> Vec<CompiledPolicy> {
        self.workloads
            .iter()
            .filter(|w| w.workload.kind.is_client())
            .map(|w| CompiledPolicy {
                schema: SCHEMA,
                workload: w.key(),
                identity: w.identity.clone(),
                inbound: Some(self.inbound_policy_of(w)),
                outbound: None,
            })
            .collect()
    }

    /// Secure naming toward every destination service, as `client` accepts it: one entry per
    /// service, or one per port where a DestinationRule's port-level settings differ.
    pub fn secure_naming_for(&self, client: &WorkloadView) -> Vec<OutboundPolicy> {
        let mut out = Vec::new();
        for svc in self.services.iter().filter(|s| !s.mesh_external) {
            let rule = self.destination_rules.lookup(client.namespace(), client.labels(), &svc.host, &svc.namespace);
            let per_port: Vec<(u16, Vec<String>)> = svc
                .ports
                .iter()
                .map(|sp| {
                    let rt = rule.map(|r| rule_tls(r, sp.port, None));
                    let sans = rt.and_then(|r| r.tls).and_then(rule_sans);
                    (sp.port, accepted_sans(sans, &svc.identities).to_vec())
                })
                .collect();
            if per_port.windows(2).all(|w| matches!(w, [a, b] if a.1 == b.1)) {
                // One entry for every port (a service without ports: its identities).
                let identities = per_port.into_iter().next().map_or_else(|| svc.identities.clone(), |(_, sans)| sans);
                out.push(OutboundPolicy { host: svc.host.clone(), port: None, identities });
            } else {
                out.extend(per_port.into_iter().map(|(port, identities)| OutboundPolicy {
                    host: svc.host.clone(),
                    port: Some(port),
                    identities,
                }));
            }
        }
        out
    }
}
