//! The `Analysis` facade: builds the index ([`crate::index`]) from parsed input, resolves every
//! workload's server side ([`crate::server`]) and the DestinationRules ([`crate::client`]), runs
//! the lint, and answers the queries every front end uses.

use crate::client::DestinationRuleIndex;
use crate::diagnostic::{Code, Diagnostic};
use crate::enforce::InboundPolicy;
use crate::model::*;
use crate::parse::{Limits, Parsed, parse_with};
use crate::report::{AnalyzeReport, Explanation, ReachReport, ServicePortReport, ServiceReport, WorkloadReport};
use crate::server::ServerPolicy;
use crate::source::Source;
use crate::version::IstioVersion;
use std::collections::HashMap;

pub use crate::index::{
    API_SERVER_HOST, Analysis, DNS_DOMAIN, QueryError, ServiceView, UnusableInput, WorkloadView, host_matches_query,
};

/// How to read the input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `None`: the newest behaviour, except that input holding v1alpha1 MeshPolicy/Policy is
    /// read with 1.5 semantics (both APIs), which an info diagnostic says.
    pub istio_version: Option<IstioVersion>,
    /// Threads the input may be read on: 0 or 1 read on the caller's thread (the default, and
    /// the playground's); 2 or more split and outline a large `---` stream on a second thread
    /// while its documents are read, and a large `kind: List` while its items are parsed
    /// ([`crate::parse::parse_with`]), and check a large mesh's calls beside the other checks.
    /// The analysis is the same either way.
    pub threads: usize,
}

impl Analysis {
    /// Parses and analyses the sources.
    pub fn new(sources: &[Source], options: &Options) -> Self {
        let mut analysis = Self::from_parsed(parse_with(sources, &Limits::DEFAULT, options.threads), options);
        crate::diagnostic::attribute_templates(sources, &mut analysis.diagnostics);
        analysis
    }

    pub fn from_parsed(parsed: Parsed, options: &Options) -> Self {
        let Parsed { mut resources, mut diagnostics, unreadable, .. } = parsed;
        let outside = crate::index::endpoints::endpoint_workloads(&resources);
        resources.workloads.extend(outside);
        let has_alpha = !resources.alpha_policies.is_empty();
        let version = match options.istio_version {
            Some(v) => v,
            None if has_alpha => {
                if let Some(first) = resources.alpha_policies.first() {
                    let msg = "the input holds v1alpha1 MeshPolicy/Policy and no --istio-version: read with Istio 1.5 semantics \
                               (both APIs; a PeerAuthentication wins per workload)";
                    diagnostics.push(
                        Diagnostic::new(Code::AlphaReadAs15, msg, &first.meta.at)
                            .with_resource(first.meta.id.to_string()),
                    );
                }
                IstioVersion::V1_5
            }
            None => IstioVersion::NEWEST,
        };
        let read_alpha = version.reads_v1alpha1();
        let read_beta = version.reads_peer_authentication();
        if !read_alpha {
            for p in &resources.alpha_policies {
                let msg = format!(
                    "{} is v1alpha1, which Istio {version} no longer reads (removed in 1.6); it is ignored. \
                     `meshlock convert` writes the equivalent PeerAuthentication",
                    p.meta.id
                );
                diagnostics
                    .push(Diagnostic::new(Code::AlphaIgnored, msg, &p.meta.at).with_resource(p.meta.id.to_string()));
            }
        }
        if !read_beta {
            for pa in &resources.peer_authentications {
                let msg = format!("PeerAuthentication does not exist in Istio {version} (added in 1.5); it is ignored");
                diagnostics
                    .push(Diagnostic::new(Code::BetaBefore15, msg, &pa.meta.at).with_resource(pa.meta.id.to_string()));
            }
        }
        let mesh = resources.mesh_config.clone().unwrap_or_default();
        let auto_mtls = mesh.enable_auto_mtls.unwrap_or_else(|| version.auto_mtls_default());
        let namespaces =
            resources.namespaces.iter().map(|n| (n.meta.name().to_owned(), n.meta.labels.clone())).collect();
        let trust_domains = crate::index::trust_domains_of(&mesh);
        let mut analysis = Self {
            version,
            resources,
            mesh,
            trust_domains,
            auto_mtls,
            read_alpha,
            read_beta,
            workloads: Vec::new(),
            services: Vec::new(),
            namespaces,
            destination_rules: DestinationRuleIndex::default(),
            services_by_workload: Vec::new(),
            workloads_by_namespace: HashMap::new(),
            pas_by_namespace: HashMap::new(),
            namespace_modes: HashMap::new(),
            mesh_mode: None,
            diagnostics,
            unreadable,
        };
        for (i, pa) in analysis.resources.peer_authentications.iter().enumerate() {
            analysis.pas_by_namespace.entry(pa.meta.namespace().to_owned()).or_default().push(i);
        }
        analysis.index_workloads();
        analysis.index_services();
        analysis.index_namespace_modes();
        analysis.resolve_servers();
        analysis.destination_rules =
            DestinationRuleIndex::build(&analysis.resources.destination_rules, &analysis.mesh.root_namespace);
        crate::lint::run(&mut analysis, options.threads);
        analysis
            .diagnostics
            .sort_by(|a, b| (&a.file, a.line, a.column, a.code).cmp(&(&b.file, b.line, b.column, b.code)));
        analysis.diagnostics.dedup();
        analysis
    }

    /// This analysis with the policies of `later` read after the input, as one stream
    /// ([`crate::parse`]'s rule: a later definition replaces the earlier one with the same
    /// kind, namespace and name). Only the policy-derived parts are rebuilt — the namespace
    /// modes, the server resolution of every workload a changed policy can reach, the
    /// DestinationRule index — exactly as [`Analysis::from_parsed`] builds them; the inventory
    /// and the authorization are this analysis's, its diagnostics are not carried (they describe
    /// the input). `later` is meant to hold PeerAuthentications,
    /// DestinationRules and MeshPolicy/Policy only (what `meshlock plan` writes); anything
    /// else in it is not read.
    pub(crate) fn with_policies(&self, later: Resources) -> Analysis {
        // Only the workloads of namespaces holding a PeerAuthentication of `later` can resolve
        // differently (`beta_candidates` reads the workload's namespace and the root namespace;
        // a root-namespace policy reaches every workload).
        let root = self.mesh.root_namespace.as_str();
        let touched: std::collections::BTreeSet<String> =
            later.peer_authentications.iter().map(|pa| pa.meta.namespace().to_owned()).collect();
        let all = touched.contains(root) || !later.alpha_policies.is_empty();
        let rules_changed = !later.destination_rules.is_empty();
        let mut next = Analysis {
            version: self.version,
            resources: self.resources.clone(),
            mesh: self.mesh.clone(),
            trust_domains: self.trust_domains.clone(),
            auto_mtls: self.auto_mtls,
            read_alpha: self.read_alpha,
            read_beta: self.read_beta,
            workloads: self.workloads.clone(),
            services: self.services.clone(),
            namespaces: self.namespaces.clone(),
            destination_rules: if rules_changed {
                DestinationRuleIndex::default()
            } else {
                self.destination_rules.clone()
            },
            services_by_workload: self.services_by_workload.clone(),
            workloads_by_namespace: self.workloads_by_namespace.clone(),
            pas_by_namespace: HashMap::new(),
            namespace_modes: HashMap::new(),
            mesh_mode: None,
            // Findings about the input, not about the replayed state: not carried.
            diagnostics: Vec::new(),
            unreadable: self.unreadable,
        };
        crate::parse::append_policies(&mut next.resources, later);
        for (i, pa) in next.resources.peer_authentications.iter().enumerate() {
            next.pas_by_namespace.entry(pa.meta.namespace().to_owned()).or_default().push(i);
        }
        next.index_namespace_modes();
        let resolve: Vec<usize> = if all {
            (0..next.workloads.len()).collect()
        } else {
            touched.iter().flat_map(|ns| next.workloads_in(ns).map(|(i, _)| i).collect::<Vec<_>>()).collect()
        };
        let resolved: Vec<(usize, ServerPolicy)> = {
            let mut resolver = crate::server::Resolver::new(&next);
            resolve.into_iter().map(|i| (i, resolver.resolve(i))).collect()
        };
        for (i, s) in resolved {
            if let Some(w) = next.workloads.get_mut(i) {
                w.server = s;
            }
        }
        if rules_changed {
            next.destination_rules =
                DestinationRuleIndex::build(&next.resources.destination_rules, &next.mesh.root_namespace);
        }
        next
    }

    fn resolve_servers(&mut self) {
        let mut resolver = crate::server::Resolver::new(self);
        let resolved: Vec<ServerPolicy> = (0..self.workloads.len()).map(|i| resolver.resolve(i)).collect();
        for (w, s) in self.workloads.iter_mut().zip(resolved) {
            w.server = s;
        }
    }

    /// `analyze`: every workload and port with its precedence chain, services with their
    /// identities, and every diagnostic.
    pub fn analyze(&self) -> AnalyzeReport {
        AnalyzeReport {
            istio_version: self.version,
            workloads: self.workloads.iter().map(|w| self.workload_report(w)).collect(),
            services: self.service_reports().collect(),
            diagnostics: self.diagnostics.clone(),
        }
    }

    /// The [`analyze`](Self::analyze) report as it serialises, field for field, built one
    /// workload and one service at a time while it is written: a cluster's report is never held
    /// whole (at 50,000 services it is hundreds of megabytes).
    pub fn analyze_streamed(&self) -> StreamedReport<'_> {
        StreamedReport { a: self, chains: None }
    }

    /// [`analyze_streamed`](Self::analyze_streamed) for a viewer that asks for the rest when it
    /// shows it ([`workload_reports`](Self::workload_reports)): no services, and the precedence
    /// chains of the first `chains` workloads only. The ports of the others carry an empty
    /// chain, and those workloads `"chainsOmitted": true`. At 10,000 services the chains and
    /// the services are most of the report.
    pub fn analyze_streamed_slim(&self, chains: usize) -> StreamedReport<'_> {
        StreamedReport { a: self, chains: Some(chains) }
    }

    fn service_reports(&self) -> impl Iterator<Item = ServiceReport> + '_ {
        self.services.iter().filter(|s| !s.mesh_external).map(|s| ServiceReport {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            host: s.host.clone(),
            ports: s
                .ports
                .iter()
                .map(|p| ServicePortReport {
                    port: p.port,
                    name: p.name.clone(),
                    target_port: p.target_port.as_ref().map_or_else(|| p.port.to_string(), ToString::to_string),
                })
                .collect(),
            endpoints: s.endpoints.iter().filter_map(|&i| self.workloads.get(i)).map(WorkloadView::key).collect(),
            identities: s.identities.clone(),
        })
    }

    /// The `analyze` entries of the named workloads (`namespace/name`), unknown names skipped:
    /// what a page that holds a slimmed report asks for the cards it shows.
    pub fn workload_reports(&self, keys: &[String]) -> Vec<WorkloadReport> {
        let wanted: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
        self.workloads.iter().filter(|w| wanted.contains(w.key().as_str())).map(|w| self.workload_report(w)).collect()
    }

    /// `reach`: the outcome of every client × service port × endpoint (× subset).
    pub fn reach(&self, filter: &crate::reach::ReachFilter) -> ReachReport {
        crate::reach::calls(self, filter)
    }

    /// How many calls [`Analysis::reach`] would list, by outcome, in time linear in the mesh.
    pub fn reach_counts(&self, filter: &crate::reach::ReachFilter) -> crate::reach::ReachCounts {
        crate::reach::count_calls(self, filter)
    }

    /// `reach` of a mesh too large to list: counts per namespace pair and failing calls grouped
    /// by cause (with `examples` calls each), in time linear in the mesh.
    pub fn reach_summary(&self, filter: &crate::reach::ReachFilter, examples: usize) -> crate::reach::ReachSummary {
        crate::reach::summarize(self, filter, examples)
    }

    /// `explain`: the precedence story of one workload (optionally one port).
    pub fn explain(&self, workload: &str, port: Option<u16>) -> Result<Explanation, QueryError> {
        crate::explain::explain(self, workload, port)
    }

    /// What the filter enforces on the inbound side of `namespace/name`.
    pub fn inbound_policy(&self, workload: &str) -> Result<InboundPolicy, QueryError> {
        let (_, w) = self.workload(workload)?;
        Ok(self.inbound_policy_of(w))
    }

    pub(crate) fn inbound_policy_of(&self, w: &WorkloadView) -> InboundPolicy {
        InboundPolicy {
            workload: w.key(),
            default_mode: w.server.mode,
            port_modes: w.server.per_port.iter().map(|(p, m)| (*p, m.mode)).collect(),
            trust_domains: self.trust_domains.clone(),
            authz: w.authz.clone(),
        }
    }
}

/// [`Analysis::analyze_streamed`]: serialises as [`AnalyzeReport`] does (the same fields, names
/// and order; a test holds it to that).
/// With `chains`, the slimmed form of [`Analysis::analyze_streamed_slim`].
pub struct StreamedReport<'a> {
    a: &'a Analysis,
    chains: Option<usize>,
}

/// A workload of the slimmed report: its entry, and whether its chains were left out.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SlimWorkload<'a> {
    #[serde(flatten)]
    report: WorkloadEntry<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    chains_omitted: bool,
}

/// [`WorkloadReport`] written straight from the analysis: the same fields, names and order (the
/// streamed report is held to the built one by a test), without copying a workload's strings
/// and precedence chains into a report first.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadEntry<'a> {
    namespace: &'a str,
    name: &'a str,
    kind: Text<&'a WorkloadKind>,
    service_account: &'a str,
    identity: &'a str,
    sidecar: bool,
    sidecar_reason: &'a str,
    mode: &'static str,
    ports: PortEntries<'a>,
    accepted_trust_domains: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gateway_servers: Vec<crate::report::GatewayServerReport>,
}

impl<'a> WorkloadEntry<'a> {
    /// The entry of `w`; its ports' chains left empty unless `chains`.
    fn new(a: &'a Analysis, w: &'a WorkloadView, chains: bool) -> Self {
        WorkloadEntry {
            namespace: w.namespace(),
            name: w.workload.meta.name(),
            kind: Text(&w.workload.kind),
            service_account: &w.workload.service_account,
            identity: &w.identity,
            sidecar: w.sidecar,
            sidecar_reason: &w.sidecar_reason,
            mode: if w.sidecar { w.server.mode.as_str() } else { "NONE" },
            ports: PortEntries { server: &w.server, sidecar: w.sidecar, chains },
            accepted_trust_domains: if w.sidecar { &a.trust_domains } else { &[] },
            gateway_servers: a.gateway_servers(w),
        }
    }
}

/// A value written as the string its `Display` gives, without building the string first.
struct Text<T>(T);

impl<T: std::fmt::Display> serde::Serialize for Text<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// A workload's ports as [`ServerPolicy::port_reports`] gives them.
struct PortEntries<'a> {
    server: &'a ServerPolicy,
    sidecar: bool,
    chains: bool,
}

impl serde::Serialize for PortEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.server.ports.iter().map(|&port| PortEntry {
            port,
            mode: if self.sidecar { self.server.mode_for_port(port).as_str() } else { "NONE" },
            chain: if self.chains { self.server.chain_for_port(port) } else { &[] },
        }))
    }
}

/// [`ServiceReport`] written straight from the analysis, as [`WorkloadEntry`] is.
struct ServiceEntry<'a> {
    a: &'a Analysis,
    service: &'a crate::index::ServiceView,
}

impl<'a> serde::Serialize for ServiceEntry<'a> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (a, s) = (self.a, self.service);
        let mut entry = serializer.serialize_struct("ServiceReport", 6)?;
        entry.serialize_field("namespace", &s.namespace)?;
        entry.serialize_field("name", &s.name)?;
        entry.serialize_field("host", &s.host)?;
        let port = |p: &'a ServicePort| ServicePortEntry {
            port: p.port,
            name: p.name.as_deref(),
            target_port: Text(TargetPort(p)),
        };
        entry.serialize_field("ports", &SeqOf(|| s.ports.iter().map(port)))?;
        let key = |w: &'a WorkloadView| Text(w.key_text());
        entry
            .serialize_field("endpoints", &SeqOf(|| s.endpoints.iter().filter_map(|&i| a.workloads.get(i)).map(key)))?;
        entry.serialize_field("identities", &s.identities)?;
        entry.end()
    }
}

/// [`crate::report::ServicePortReport`], borrowed.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ServicePortEntry<'a> {
    port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    target_port: Text<TargetPort<'a>>,
}

/// A service port's target port as the report writes it: the service port when none is set.
struct TargetPort<'a>(&'a ServicePort);

impl std::fmt::Display for TargetPort<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.target_port {
            Some(target) => target.fmt(f),
            None => self.0.port.fmt(f),
        }
    }
}

/// [`crate::report::PortReport`], borrowed.
#[derive(serde::Serialize)]
struct PortEntry<'a> {
    port: u16,
    mode: &'static str,
    chain: &'a [crate::report::ChainEntry],
}

/// A sequence serialised from an iterator made anew for each serialisation.
struct SeqOf<F>(F);

impl<F, I> serde::Serialize for SeqOf<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

impl<'a> serde::Serialize for StreamedReport<'a> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let a = self.a;
        let mut report = serializer.serialize_struct("AnalyzeReport", 4)?;
        report.serialize_field("istioVersion", &a.version)?;
        match self.chains {
            None => {
                report.serialize_field(
                    "workloads",
                    &SeqOf(|| a.workloads.iter().map(|w| WorkloadEntry::new(a, w, true))),
                )?;
                let services =
                    || a.services.iter().filter(|s| !s.mesh_external).map(|service| ServiceEntry { a, service });
                report.serialize_field("services", &SeqOf(services))?;
            }
            Some(chains) => {
                let slim = |(i, w): (usize, &'a WorkloadView)| {
                    let chains_omitted = i >= chains;
                    SlimWorkload { report: WorkloadEntry::new(a, w, !chains_omitted), chains_omitted }
                };
                report.serialize_field("workloads", &SeqOf(|| a.workloads.iter().enumerate().map(slim)))?;
                report.serialize_field("services", &[(); 0])?;
            }
        }
        report.serialize_field("diagnostics", &a.diagnostics)?;
        report.end()
    }
}
