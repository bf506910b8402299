//! The index over parsed resources for one Istio version: the workloads with their sidecar,
//! identity and (once resolved) server policy, the services with their endpoints and secure
//! naming, and the lookups the resolution, reach and lint layers read. It decides no mode and
//! no call: [`crate::server`] and [`crate::client`] resolve, [`crate::analysis`] builds it.

use crate::client::DestinationRuleIndex;
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::identity::{expand_with_aliases, spiffe_id};
use crate::model::*;
use crate::report::{ChainEntry, PortReport, WorkloadReport};
use crate::source::Location;
use crate::version::IstioVersion;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub(crate) mod endpoints;
pub use endpoints::API_SERVER_HOST;

pub use crate::model::DNS_DOMAIN;

/// A query about something the input does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error(
        "no workload `{0}` in the input (expected NAMESPACE/NAME of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod)"
    )]
    UnknownWorkload(String),
    #[error("no service `{0}` in the input")]
    UnknownService(String),
    #[error("workload `{workload}` has no port {port}")]
    UnknownPort { workload: String, port: u16 },
}

/// Why the input cannot be enforced as written ([`Analysis::usable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnusableInput {
    #[error("{0} document(s) could not be parsed")]
    Unreadable(usize),
    /// `file:line:column: message` of the first resource read with an invalid or missing field.
    #[error("{0}")]
    Invalid(String),
}

/// A workload with what the index derived for it.
#[derive(Debug, Clone)]
pub struct WorkloadView {
    pub workload: Workload,
    pub sidecar: bool,
    pub sidecar_reason: String,
    pub identity: String,
    pub server: ServerPolicy,
    /// The AuthorizationPolicies that select this workload, as the filter carries them.
    pub authz: crate::authz::WorkloadAuthz,
}

impl WorkloadView {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        self.key_text().to_string()
    }
    /// [`WorkloadView::key`] as something to write, for writers that need not allocate it.
    pub(crate) fn key_text(&self) -> WorkloadKey<'_> {
        WorkloadKey(self)
    }
    pub fn namespace(&self) -> &str {
        self.workload.meta.namespace()
    }
    pub fn labels(&self) -> &Labels {
        &self.workload.pod_labels
    }
}

/// A workload's `namespace/name`, written where it is needed ([`WorkloadView::key_text`]).
pub(crate) struct WorkloadKey<'a>(&'a WorkloadView);

impl std::fmt::Display for WorkloadKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0.namespace(), self.0.workload.meta.name())
    }
}

/// A destination service: a Kubernetes Service (or a ServiceEntry host) with its endpoints.
#[derive(Debug, Clone)]
pub struct ServiceView {
    pub namespace: String,
    pub name: String,
    pub host: String,
    pub ports: Vec<ServicePort>,
    pub headless: bool,
    pub mesh_external: bool,
    /// Indexes into [`Analysis::workloads`].
    pub endpoints: Vec<usize>,
    /// Secure naming: the SPIFFE IDs a client accepts (alias-expanded).
    pub identities: Vec<String>,
    pub at: Location,
}

impl ServiceView {
    pub fn port(&self, port: u16) -> Option<&ServicePort> {
        self.ports.iter().find(|p| p.port == port)
    }
}

/// The analysed input: every query reads from here.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub(crate) version: IstioVersion,
    pub(crate) resources: Resources,
    pub(crate) mesh: MeshConfig,
    /// The mesh's trust domain and its aliases, derived once from `mesh` (read per call by
    /// authorization in `reach`).
    pub(crate) trust_domains: Vec<String>,
    pub(crate) auto_mtls: bool,
    pub(crate) read_alpha: bool,
    pub(crate) read_beta: bool,
    pub(crate) workloads: Vec<WorkloadView>,
    pub(crate) services: Vec<ServiceView>,
    pub(crate) namespaces: BTreeMap<String, Labels>,
    pub(crate) destination_rules: DestinationRuleIndex,
    /// Indexes into `services` per workload.
    pub(crate) services_by_workload: Vec<Vec<usize>>,
    /// Indexes into `workloads` per namespace.
    pub(crate) workloads_by_namespace: HashMap<String, Vec<usize>>,
    /// Indexes into `resources.peer_authentications` per namespace.
    pub(crate) pas_by_namespace: HashMap<String, Vec<usize>>,
    /// `GetNamespaceMutualTLSMode` of every namespace that has a PeerAuthentication, and the
    /// mesh-level mode (used for every other namespace).
    pub(crate) namespace_modes: HashMap<String, Option<Mode>>,
    pub(crate) mesh_mode: Option<Mode>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) unreadable: usize,
}

/// Which API decided a workload's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    #[default]
    PeerAuthentication,
    Alpha,
}

/// The resolved server side of one workload: a slot of the index that `server::Resolver` fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPolicy {
    pub api: Api,
    /// The workload-level mode: what every port without its own entry gets.
    pub mode: Mode,
    /// Shared by every workload the same policies reach (`server::Resolver`).
    pub chain: Arc<[ChainEntry]>,
    /// Ports with their own resolution (portLevelMtls, or a v1alpha1 service port).
    pub per_port: BTreeMap<u16, PortPolicy>,
    /// Every known workload port: container ports, Service target ports, portLevelMtls keys.
    pub ports: Vec<u16>,
}

impl Default for ServerPolicy {
    fn default() -> Self {
        Self {
            api: Api::PeerAuthentication,
            mode: Mode::Permissive,
            chain: Arc::from([]),
            per_port: BTreeMap::new(),
            ports: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPolicy {
    pub mode: Mode,
    pub chain: Arc<[ChainEntry]>,
}

impl ServerPolicy {
    /// `policyApplier.GetMutualTLSModeForPort`: the port's own entry, else the workload mode.
    pub fn mode_for_port(&self, port: u16) -> Mode {
        self.per_port.get(&port).map_or(self.mode, |p| p.mode)
    }

    pub fn chain_for_port(&self, port: u16) -> &[ChainEntry] {
        self.per_port.get(&port).map_or(&self.chain, |p| &p.chain)
    }

    /// Each port's mode, and its precedence chain when `chains` (empty otherwise: the chains
    /// are most of a large report).
    pub fn port_reports(&self, sidecar: bool, chains: bool) -> Vec<PortReport> {
        self.ports
            .iter()
            .map(|&port| PortReport {
                port,
                mode: if sidecar { self.mode_for_port(port).to_string() } else { "NONE".to_owned() },
                chain: if chains { self.chain_for_port(port).to_vec() } else { Vec::new() },
            })
            .collect()
    }
}

impl Analysis {
    pub fn version(&self) -> IstioVersion {
        self.version
    }

    pub fn mesh_config(&self) -> &MeshConfig {
        &self.mesh
    }

    /// What the parser read. The workloads are not here: each moved into its view
    /// ([`Analysis::workload_views`]).
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    pub fn auto_mtls(&self) -> bool {
        self.auto_mtls
    }

    pub fn workloads(&self) -> &[WorkloadView] {
        &self.workloads
    }

    pub fn services(&self) -> &[ServiceView] {
        &self.services
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Documents that could not be parsed (the command "could not run": exit 2).
    pub fn unreadable(&self) -> usize {
        self.unreadable
    }

    /// The first finding that means some resource was not read as written (a syntax error, an
    /// input limit, a wrong type or unknown value, a missing required field). An enforcement
    /// point must refuse such input: enforcing what is left would silently weaken the policy.
    pub fn input_error(&self) -> Option<&Diagnostic> {
        const UNUSABLE: [Code; 4] = [Code::YamlSyntax, Code::InputLimit, Code::InvalidField, Code::MissingField];
        self.diagnostics.iter().find(|d| UNUSABLE.contains(&d.code))
    }

    /// Whether the input can be enforced as written: every document parsed, and no resource
    /// read with an invalid or missing field (that would silently weaken what is enforced).
    /// What `meshlock compile`, `envoy-config` and the filter's YAML form check first.
    pub fn usable(&self) -> Result<(), UnusableInput> {
        if self.unreadable > 0 {
            return Err(UnusableInput::Unreadable(self.unreadable));
        }
        match self.input_error() {
            Some(d) => Err(UnusableInput::Invalid(format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))),
            None => Ok(()),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// The trust domains a sidecar accepts: the mesh's and its aliases
    /// (`plugin/authn/util.go :: TrustDomainsForValidation`).
    pub fn trust_domains(&self) -> &[String] {
        &self.trust_domains
    }

    /// Every workload, in input order (the order of `compile_inbound_all`).
    pub fn workload_views(&self) -> &[WorkloadView] {
        &self.workloads
    }

    pub fn workload(&self, key: &str) -> Result<(usize, &WorkloadView), QueryError> {
        self.workloads
            .iter()
            .enumerate()
            .find(|(_, w)| w.key() == key)
            .ok_or_else(|| QueryError::UnknownWorkload(key.to_owned()))
    }

    pub(crate) fn index_workloads(&mut self) {
        let td = self.mesh.trust_domain.clone();
        // Each workload moves into its view: a cluster's workloads are held once, not twice.
        let workloads = std::mem::take(&mut self.resources.workloads);
        let mut views = Vec::with_capacity(workloads.len());
        for w in workloads {
            let (sidecar, sidecar_reason) = detect_sidecar(&w, self.namespaces.get(w.meta.namespace()));
            let identity = spiffe_id(&td, w.meta.namespace(), &w.service_account);
            views.push(WorkloadView {
                workload: w,
                sidecar,
                sidecar_reason,
                identity,
                server: ServerPolicy::default(),
                authz: crate::authz::WorkloadAuthz::default(),
            });
        }
        self.index_authz(&mut views);
        self.workloads = views;
        for (i, w) in self.workloads.iter().enumerate() {
            self.workloads_by_namespace.entry(w.namespace().to_owned()).or_default().push(i);
        }
    }

    pub(crate) fn index_services(&mut self) {
        let mut by_ns: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, w) in self.workloads.iter().enumerate() {
            by_ns.entry(w.namespace()).or_default().push(i);
        }
        let aliases = self.mesh.trust_domain_aliases.clone();
        // Endpoint-only workloads by the service host they stand behind.
        let mut behind: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, w) in self.workloads.iter().enumerate() {
            for host in &w.workload.endpoint_of {
                behind.entry(host.as_str()).or_default().push(i);
            }
        }
        // A label selector picks Pods' controllers and WorkloadEntries of its namespace
        // (Kubernetes Services select WorkloadEntries too: `PILOT_ENABLE_K8S_SELECT_WORKLOAD_ENTRIES`,
        // on by default), never the endpoint-only kinds.
        let selected = |sel: &Labels, ns: &str| -> Vec<usize> {
            by_ns
                .get(ns)
                .map(|ws| {
                    ws.iter()
                        .copied()
                        .filter(|&i| {
                            self.workloads
                                .get(i)
                                .is_some_and(|w| w.workload.kind.is_client() && selects(sel, w.labels()))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut views = Vec::new();
        for s in &self.resources.services {
            let ns = s.meta.namespace();
            let host = format!("{}.{ns}.svc.{DNS_DOMAIN}", s.meta.name());
            let endpoints: Vec<usize> = match &s.selector {
                Some(sel) => selected(sel, ns),
                None => behind.get(host.as_str()).cloned().unwrap_or_default(),
            };
            let mut ids: Vec<String> = Vec::new();
            for &i in &endpoints {
                if let Some(w) = self.workloads.get(i)
                    && !ids.contains(&w.identity)
                {
                    ids.push(w.identity.clone());
                }
            }
            // `Service.ServiceAccounts` from annotations (`kube/conversion.go :: ConvertService`).
            if let Some(v) = s.meta.annotations.get("alpha.istio.io/canonical-serviceaccounts") {
                ids.extend(v.split(',').map(|x| x.trim().to_owned()).filter(|x| !x.is_empty()));
            }
            if let Some(v) = s.meta.annotations.get("alpha.istio.io/kubernetes-serviceaccounts") {
                ids.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(|sa| spiffe_id(&self.mesh.trust_domain, ns, sa)),
                );
            }
            ids.sort();
            ids.dedup();
            views.push(ServiceView {
                namespace: ns.to_owned(),
                name: s.meta.name().to_owned(),
                host,
                ports: s.ports.clone(),
                headless: s.headless,
                mesh_external: false,
                endpoints,
                identities: expand_with_aliases(&ids, &aliases),
                at: s.meta.at.clone(),
            });
        }
        for se in &self.resources.service_entries {
            let ns = se.meta.namespace();
            let selected_endpoints = se.workload_selector.as_ref().map(|sel| selected(sel, ns));
            for host in &se.hosts {
                let endpoints = match &selected_endpoints {
                    Some(list) => list.clone(),
                    None => behind.get(host.as_str()).cloned().unwrap_or_default(),
                };
                // `ServiceAccounts` of a ServiceEntry: its subjectAltNames plus the accounts of
                // endpoints that declare one (`serviceentry/conversion.go`).
                let mut ids = se.subject_alt_names.clone();
                ids.extend(
                    endpoints
                        .iter()
                        .filter_map(|&i| self.workloads.get(i))
                        .filter(|w| w.sidecar)
                        .map(|w| w.identity.clone()),
                );
                ids.sort();
                ids.dedup();
                views.push(ServiceView {
                    namespace: ns.to_owned(),
                    name: se.meta.name().to_owned(),
                    host: host.clone(),
                    ports: se.ports.clone(),
                    headless: false,
                    mesh_external: se.location == SeLocation::MeshExternal,
                    endpoints,
                    identities: expand_with_aliases(&ids, &aliases),
                    at: se.meta.at.clone(),
                });
            }
        }
        self.services = views;
        let mut by_workload = vec![Vec::new(); self.workloads.len()];
        for (si, s) in self.services.iter().enumerate() {
            for &w in &s.endpoints {
                if let Some(list) = by_workload.get_mut(w) {
                    list.push(si);
                }
            }
        }
        self.services_by_workload = by_workload;
    }

    /// Services whose endpoints include workload `w` (index).
    pub fn services_of(&self, w: usize) -> impl Iterator<Item = &ServiceView> {
        self.services_by_workload.get(w).into_iter().flatten().filter_map(|&i| self.services.get(i))
    }

    /// Workloads of a namespace.
    pub fn workloads_in<'a>(&'a self, ns: &str) -> impl Iterator<Item = (usize, &'a WorkloadView)> {
        self.workloads_by_namespace.get(ns).into_iter().flatten().filter_map(|&i| self.workloads.get(i).map(|w| (i, w)))
    }

    /// PeerAuthentications of a namespace.
    pub(crate) fn peer_authentications_in<'a>(&'a self, ns: &str) -> impl Iterator<Item = &'a PeerAuthentication> {
        self.pas_by_namespace.get(ns).into_iter().flatten().filter_map(|&i| self.resources.peer_authentications.get(i))
    }

    /// `AuthenticationPolicies.GetNamespaceMutualTLSMode`: the namespace PA's mode (UNSET
    /// resolved to the mesh mode, else PERMISSIVE), or the mesh mode; a mesh PA with mode UNSET
    /// counts as PERMISSIVE; no policy at all is `None` (MTLSUnknown).
    pub fn namespace_mode(&self, ns: &str) -> Option<Mode> {
        self.namespace_modes.get(ns).copied().unwrap_or(self.mesh_mode)
    }

    pub(crate) fn index_namespace_modes(&mut self) {
        let root = self.mesh.root_namespace.clone();
        let oldest = |a: &Self, ns: &str| {
            a.peer_authentications_in(ns)
                .filter(|pa| !pa.has_selector())
                .min_by(|x, y| x.meta.age_key().cmp(&y.meta.age_key()))
                .map(|pa| pa.mode)
        };
        self.mesh_mode = oldest(self, &root).map(|m| m.resolved().unwrap_or(Mode::Permissive));
        let namespaces: Vec<String> = self.pas_by_namespace.keys().filter(|ns| **ns != root).cloned().collect();
        for ns in namespaces {
            if let Some(mode) = oldest(self, &ns) {
                let resolved = mode.resolved().or(self.mesh_mode).unwrap_or(Mode::Permissive);
                self.namespace_modes.insert(ns, Some(resolved));
            }
        }
    }

    /// A workload's entry of the report. The streamed report writes the same from the analysis
    /// without building it (`analysis::WorkloadEntry`).
    pub(crate) fn workload_report(&self, w: &WorkloadView) -> WorkloadReport {
        WorkloadReport {
            namespace: w.namespace().to_owned(),
            name: w.workload.meta.name().to_owned(),
            kind: w.workload.kind.to_string(),
            service_account: w.workload.service_account.clone(),
            identity: w.identity.clone(),
            sidecar: w.sidecar,
            sidecar_reason: w.sidecar_reason.clone(),
            mode: if w.sidecar { w.server.mode.to_string() } else { "NONE".to_owned() },
            ports: w.server.port_reports(w.sidecar, true),
            accepted_trust_domains: if w.sidecar { self.trust_domains.clone() } else { Vec::new() },
            gateway_servers: self.gateway_servers(w),
        }
    }

    /// Servers of Gateways whose selector matches the workload (any namespace, as Istio's
    /// default `PILOT_SCOPE_GATEWAY_TO_NAMESPACE=false`).
    pub(crate) fn gateway_servers(&self, w: &WorkloadView) -> Vec<crate::report::GatewayServerReport> {
        let mut out = Vec::new();
        for gw in &self.resources.gateways {
            if gw.selector.is_empty() || !selects(&gw.selector, w.labels()) {
                continue;
            }
            for s in &gw.servers {
                out.push(crate::report::GatewayServerReport {
                    gateway: gw.meta.id.clone(),
                    port: s.port,
                    protocol: s.protocol.clone(),
                    tls_mode: s.tls.as_ref().map_or_else(|| "NONE".to_owned(), |t| t.mode.to_string()),
                    hosts: s.hosts.clone(),
                    file: s.at.file.clone(),
                    line: s.at.line,
                });
            }
        }
        out
    }

    /// A service by FQDN, `name.namespace`, or `name.namespace.svc`.
    pub fn find_service(&self, host: &str) -> Option<&ServiceView> {
        self.services.iter().find(|s| host_matches_query(&s.host, host))
    }

    /// AuthorizationPolicies selecting each workload, in input order: those of its namespace and
    /// of the root namespace whose selector matches its labels or that have none ("if the
    /// authorization policy is in the root namespace, the selector will additionally match with
    /// workloads in all namespaces": `model/authorization.go :: ListAuthorizationPolicies`).
    /// Policies are grouped by namespace first so a mesh with many policies stays linear.
    fn index_authz(&self, views: &mut [WorkloadView]) {
        let root = self.mesh.root_namespace.as_str();
        let mut by_namespace: BTreeMap<&str, Vec<(usize, &AuthorizationPolicy)>> = BTreeMap::new();
        for (i, ap) in self.resources.authorization_policies.iter().enumerate() {
            by_namespace.entry(ap.meta.namespace()).or_default().push((i, ap));
        }
        for w in views.iter_mut() {
            let own = by_namespace.get(w.namespace()).map(Vec::as_slice).unwrap_or_default();
            let mesh_wide = if w.namespace() == root {
                &[][..]
            } else {
                by_namespace.get(root).map(Vec::as_slice).unwrap_or_default()
            };
            let mut selecting: Vec<&(usize, &AuthorizationPolicy)> = own
                .iter()
                .chain(mesh_wide)
                .filter(|(_, ap)| ap.selector.as_ref().is_none_or(|s| s.matches(w.labels())))
                .collect();
            selecting.sort_by_key(|(i, _)| *i);
            for (_, ap) in selecting {
                w.authz.add(format!("{}/{}", ap.meta.namespace(), ap.meta.name()), ap.action, ap.rules.as_deref());
            }
        }
    }
}

pub(crate) fn trust_domains_of(mesh: &MeshConfig) -> Vec<String> {
    let mut tds = vec![mesh.trust_domain.replace('@', ".")];
    for a in &mesh.trust_domain_aliases {
        if !tds.contains(a) {
            tds.push(a.clone());
        }
    }
    tds
}

/// Whether a service host answers to a user's query: the FQDN, `name.namespace` or
/// `name.namespace.svc`.
pub fn host_matches_query(fqdn: &str, query: &str) -> bool {
    fqdn == query || fqdn == format!("{query}.svc.{DNS_DOMAIN}") || fqdn == format!("{query}.{DNS_DOMAIN}")
}

/// Sidecar detection, in the order the injector decides (`pkg/kube/inject/webhook.go ::
/// injectRequired` and the MutatingWebhookConfiguration selectors of the istiod chart).
fn detect_sidecar(w: &Workload, ns_labels: Option<&Labels>) -> (bool, String) {
    if let Some(declared) = &w.declared_sidecar {
        return declared.clone();
    }
    let ns = w.meta.namespace();
    if w.containers.iter().any(|c| c == "istio-proxy") {
        return (true, "the pod spec has an istio-proxy container".to_owned());
    }
    // Running Pods from a cluster dump decide over the template: injection happens when a Pod
    // is created, so a Pod started before its namespace was labelled has no sidecar.
    let pods = w.running_pods;
    if pods.with_sidecar > 0 {
        let of = pods.with_sidecar + pods.without_sidecar;
        return (true, format!("{} of its {of} running pods have an istio-proxy container", pods.with_sidecar));
    }
    if pods.without_sidecar > 0 {
        return (
            false,
            format!(
                "its {} running pods have no istio-proxy container (injection applies when a pod starts: restart them to inject)",
                pods.without_sidecar
            ),
        );
    }
    if w.pod_labels.get("security.istio.io/tlsMode").map(String::as_str) == Some("istio") {
        return (true, "the pod carries security.istio.io/tlsMode=istio".to_owned());
    }
    if w.host_network {
        return (false, "hostNetwork pods are never injected".to_owned());
    }
    if ["kube-system", "kube-public"].contains(&ns) {
        return (false, format!("namespace {ns} is never injected"));
    }
    let ns_label = ns_labels.and_then(|l| l.get("istio-injection")).map(String::as_str);
    if ns_label == Some("disabled") {
        return (false, format!("namespace {ns} has istio-injection=disabled"));
    }
    let pod_label = w.pod_labels.get("sidecar.istio.io/inject").map(String::as_str);
    if pod_label == Some("false") {
        return (false, "the pod label sidecar.istio.io/inject=false".to_owned());
    }
    if pod_label == Some("true") {
        return (true, "the pod label sidecar.istio.io/inject=true".to_owned());
    }
    let rev = ns_labels.and_then(|l| l.get("istio.io/rev"));
    let ns_enabled = ns_label == Some("enabled") || (ns_label.is_none() && rev.is_some());
    if !ns_enabled {
        let why = match ns_labels {
            None => format!("namespace {ns} is not in the input, so it has no injection label"),
            Some(_) => {
                format!("namespace {ns} has no istio-injection=enabled or istio.io/rev label")
            }
        };
        return (false, why);
    }
    if w.pod_annotations.get("sidecar.istio.io/inject").map(String::as_str) == Some("false") {
        return (false, "the pod annotation sidecar.istio.io/inject=false".to_owned());
    }
    match (ns_label, rev) {
        (Some(_), _) => (true, format!("namespace {ns} has istio-injection=enabled")),
        (None, Some(r)) => (true, format!("namespace {ns} has istio.io/rev={r}")),
        (None, None) => (true, format!("namespace {ns} enables injection")),
    }
}
