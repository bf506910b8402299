//! The typed model the parser produces: an inventory of what runs, and the policies over it.
//!
//! Every apiVersion a kind was served in maps to one type here: v1, v1beta1 and v1alpha3 of
//! networking and security share one schema (`security/v1/peer_authentication_alias.gen.go`).

use crate::source::Location;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub type Labels = BTreeMap<String, String>;

/// The DNS suffix of Kubernetes service hosts. Distinct from the trust domain, which only
/// happens to share its default value.
pub const DNS_DOMAIN: &str = "cluster.local";

/// What identifies a resource in messages: `Kind namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(as = "String"))]
pub struct ResourceId {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// `items` by their ids, the first of each id kept (what a search from the start finds). For
/// look-ups by id inside a loop over findings or groups: a linear search there is quadratic in a
/// mesh with a rule per service.
pub(crate) fn first_by_id<'a, T>(
    items: &'a [T],
    id: impl Fn(&'a T) -> &'a ResourceId,
) -> std::collections::HashMap<&'a ResourceId, &'a T> {
    let mut by_id = std::collections::HashMap::with_capacity(items.len());
    for item in items {
        by_id.entry(id(item)).or_insert(item);
    }
    by_id
}

/// Serialized as it is printed: `Kind namespace/name`.
impl Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Metadata every resource keeps: identity, creation time (for oldest-wins) and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub id: ResourceId,
    /// `metadata.creationTimestamp` in seconds since the epoch. `None` sorts first, like Go's
    /// zero `time.Time` in Istio's `configCompareByCreationTime`.
    pub created: Option<i64>,
    pub labels: Labels,
    /// The annotations meshlock reads ([`READ_ANNOTATIONS`]); the others are checked when read
    /// and not kept.
    pub annotations: Labels,
    pub at: Location,
}

/// The annotations any rule reads, on a resource or a pod (template). A cluster dump's pods carry
/// kilobytes of others (`sidecar.istio.io/status`, `prometheus.io/*` …), held by every pod until
/// it is folded into its controller; they are checked as every string map is and not kept.
pub const READ_ANNOTATIONS: [&str; 4] = [
    // Service accounts a Service's pods may run as, added to its secure-naming identities
    // (Istio's `ConvertService`).
    "alpha.istio.io/canonical-serviceaccounts",
    "alpha.istio.io/kubernetes-serviceaccounts",
    // Sidecar injection opted out per pod.
    "sidecar.istio.io/inject",
    // Whether the sidecar rewrites HTTP probes, so that kubelet's plaintext probes pass a STRICT
    // port.
    "sidecar.istio.io/rewriteAppHTTPProbers",
];

impl Meta {
    pub fn name(&self) -> &str {
        &self.id.name
    }
    pub fn namespace(&self) -> &str {
        &self.id.namespace
    }
    /// The order Istio sorts configs in: creation time, then name, then namespace
    /// (`pilot/pkg/model/config.go :: configCompareByCreationTime`).
    pub fn age_key(&self) -> (Option<i64>, &str, &str) {
        (self.created, &self.id.name, &self.id.namespace)
    }
}

/// A PeerAuthentication mode as declared (`UNSET` inherits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeclaredMode {
    Unset,
    Disable,
    Permissive,
    Strict,
}

impl DeclaredMode {
    pub fn resolved(self) -> Option<Mode> {
        match self {
            Self::Unset => None,
            Self::Disable => Some(Mode::Disable),
            Self::Permissive => Some(Mode::Permissive),
            Self::Strict => Some(Mode::Strict),
        }
    }
}

impl fmt::Display for DeclaredMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unset => "UNSET",
            Self::Disable => "DISABLE",
            Self::Permissive => "PERMISSIVE",
            Self::Strict => "STRICT",
        })
    }
}

/// The effective mutual-TLS mode of a sidecar's inbound port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    Disable,
    Permissive,
    Strict,
}

impl Mode {
    /// The mode as Istio spells it (what `Display` writes), without `core::fmt`: the filter
    /// words its log lines with it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "DISABLE",
            Self::Permissive => "PERMISSIVE",
            Self::Strict => "STRICT",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A label selector (`matchLabels`). Istio's PeerAuthentication selector matches when the
/// labels are a subset of the pod's (`labels.Instance.SubsetOf`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub match_labels: Labels,
}

/// Kubernetes equality-based selection, the one check behind every label selector (Service
/// `selector`, `matchLabels`, DestinationRule subset labels, Gateway `selector`): every key of
/// `selector` is in `labels` with the same value. An empty selector selects everything.
pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty()
    }
    pub fn matches(&self, labels: &Labels) -> bool {
        selects(&self.match_labels, labels)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&parts.join(","))
    }
}

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub meta: Meta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Pod,
    /// A `WorkloadEntry`: a VM or other workload outside Kubernetes, a client and an endpoint.
    WorkloadEntry,
    /// The addresses behind a selector-less Service, from its Endpoints or EndpointSlices (the
    /// Kubernetes API server behind `default/kubernetes`): an endpoint only.
    ServiceEndpoints,
    /// An address listed in a ServiceEntry's `endpoints`: an endpoint only.
    ServiceEntryEndpoint,
    /// A ServiceEntry host with no endpoints or workloadSelector: the host's own addresses,
    /// outside the mesh's knowledge (always so for MESH_EXTERNAL): an endpoint only.
    ServiceEntryHost,
}

impl WorkloadKind {
    /// Whether it runs code that calls services: everything but the endpoint-only kinds, which
    /// stand for addresses behind a service and have no caller meshlock can see.
    pub fn is_client(self) -> bool {
        !matches!(self, Self::ServiceEndpoints | Self::ServiceEntryEndpoint | Self::ServiceEntryHost)
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub port: u16,
    pub name: Option<String>,
    pub protocol: String,
}

/// A kubelet probe that reaches the pod over the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `liveness`, `readiness` or `startup`.
    pub kind: &'static str,
    pub http: bool,
    pub port: PortRef,
}

/// A port given by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Name(s) => f.write_str(s),
        }
    }
}

/// The pod-template facts of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub meta: Meta,
    pub kind: WorkloadKind,
    /// Pod (template) labels: what selectors match.
    pub pod_labels: Labels,
    /// As [`Meta::annotations`]: the ones meshlock reads.
    pub pod_annotations: Labels,
    pub service_account: String,
    pub host_network: bool,
    pub containers: Vec<String>,
    pub ports: Vec<ContainerPort>,
    pub probes: Vec<Probe>,
    /// The controller that owns it (`metadata.ownerReferences` with `controller: true`), as
    /// (kind, name) in the same namespace: a Pod's ReplicaSet, a ReplicaSet's Deployment.
    pub controller: Option<(String, String)>,
    /// Running Pods folded into this controller: how many have an istio-proxy container and
    /// how many do not. A running Pod is the truth about injection; the template is intent.
    pub running_pods: RunningPods,
    /// For the kinds that are not Kubernetes workloads: whether Istio treats the endpoint as
    /// having a sidecar, and why, decided from the object itself rather than from injection.
    pub declared_sidecar: Option<(bool, String)>,
    /// For the endpoint-only kinds: the service hosts (FQDNs) whose endpoint this is.
    pub endpoint_of: Vec<String>,
}

/// The Pods of a cluster dump that stand behind a controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunningPods {
    pub with_sidecar: usize,
    pub without_sidecar: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub target_port: Option<PortRef>,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub meta: Meta,
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePort>,
    pub headless: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeLocation {
    MeshExternal,
    MeshInternal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub meta: Meta,
    pub hosts: Vec<String>,
    pub ports: Vec<ServicePort>,
    pub location: SeLocation,
    pub subject_alt_names: Vec<String>,
    pub workload_selector: Option<Labels>,
    pub export_to: Vec<String>,
    /// `endpoints`: WorkloadEntry-shaped addresses.
    pub endpoints: Vec<EntryEndpoint>,
}

/// A WorkloadEntry, or one of a ServiceEntry's inline `endpoints` (the same message in Istio's API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryEndpoint {
    pub address: String,
    pub labels: Labels,
    /// Empty when not set.
    pub service_account: String,
    /// Port name → endpoint port.
    pub ports: Vec<(String, u16)>,
    pub at: Location,
}

impl EntryEndpoint {
    /// `serviceentry/conversion.go :: getTLSModeFromWorkloadEntry`: the
    /// `security.istio.io/tlsMode` label when present, else `istio` when a serviceAccount is
    /// set, else disabled — the "has a sidecar" signal auto mTLS reads.
    pub fn sidecar(&self) -> (bool, String) {
        match self.labels.get("security.istio.io/tlsMode") {
            Some(v) => (v == "istio", format!("its label security.istio.io/tlsMode={v}")),
            None if !self.service_account.is_empty() => {
                (true, "it names a serviceAccount and no tlsMode label, so Istio takes tlsMode istio".to_owned())
            }
            None => (false, "no tlsMode label and no serviceAccount, so Istio takes tlsMode disabled".to_owned()),
        }
    }
}

/// The addresses Kubernetes lists for a Service: an Endpoints object (named after the Service)
/// or an EndpointSlice (labelled `kubernetes.io/service-name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEndpointList {
    pub meta: Meta,
    pub service: String,
    pub addresses: Vec<String>,
    /// Port name (possibly empty) → endpoint port.
    pub ports: Vec<(String, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub meta: Meta,
}

/// One destination a VirtualService routes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDestination {
    pub host: String,
    pub subset: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    pub meta: Meta,
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    pub destinations: Vec<RouteDestination>,
}

/// The parts of MeshConfig that bear on mTLS (ConfigMap `istio` in the root namespace, key `mesh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfig {
    pub root_namespace: String,
    pub trust_domain: String,
    pub trust_domain_aliases: Vec<String>,
    pub enable_auto_mtls: Option<bool>,
    /// `defaultConfig.holdApplicationUntilProxyStarts` etc. are not read; probe rewriting is
    /// (`sidecarInjectorWebhook.rewriteAppHTTPProbe` lives in values, not here, so only the
    /// per-pod annotation is read).
    pub at: Option<Location>,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            root_namespace: "istio-system".to_owned(),
            trust_domain: "cluster.local".to_owned(),
            trust_domain_aliases: Vec::new(),
            enable_auto_mtls: None,
            at: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMode {
    pub mode: DeclaredMode,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuthentication {
    pub meta: Meta,
    /// `None`: no selector. `Some(empty)`: `selector: {}`, which also counts as namespace-wide.
    pub selector: Option<Selector>,
    pub mode: DeclaredMode,
    /// `portLevelMtls`, keyed by the workload (container) port as written.
    pub port_level: BTreeMap<u32, PortMode>,
    /// Whether `portLevelMtls` was present (an empty map is a validation error).
    pub port_level_present: bool,
}

impl PeerAuthentication {
    /// Whether the selector is non-empty (workload-level).
    pub fn has_selector(&self) -> bool {
        self.selector.as_ref().is_some_and(|s| !s.is_empty())
    }
}

/// DestinationRule / ServiceEntry client TLS modes (`ClientTLSSettings.TLSmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TlsMode {
    Disable,
    Simple,
    Mutual,
    IstioMutual,
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disable => "DISABLE",
            Self::Simple => "SIMPLE",
            Self::Mutual => "MUTUAL",
            Self::IstioMutual => "ISTIO_MUTUAL",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    pub mode: TlsMode,
    /// `mode` was omitted: the enum default 0 is DISABLE.
    pub mode_omitted: bool,
    pub ca_certificates: bool,
    pub credential_name: bool,
    /// `credentialName` names a Secret the proxy must be privileged to fetch (anything but a
    /// `configmap://` reference): sidecars ignore such a rule unless it has a workloadSelector.
    pub credential_secret: bool,
    pub client_certificate: bool,
    pub insecure_skip_verify: bool,
    pub subject_alt_names: Option<Vec<String>>,
    /// `sni`: the server name the client sends, when the rule sets one.
    pub sni: Option<String>,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortTrafficPolicy {
    pub port: u32,
    pub tls: Option<ClientTls>,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrafficPolicy {
    pub tls: Option<ClientTls>,
    pub port_level: Vec<PortTrafficPolicy>,
    /// `loadBalancer.simple: PASSTHROUGH`.
    pub passthrough_lb: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subset {
    pub name: String,
    pub labels: Labels,
    pub traffic_policy: Option<TrafficPolicy>,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRule {
    pub meta: Meta,
    pub host: String,
    pub host_at: Location,
    pub export_to: Vec<String>,
    pub workload_selector: Option<Labels>,
    pub traffic_policy: Option<TrafficPolicy>,
    pub subsets: Vec<Subset>,
}

/// The v1alpha1 peer mode: a policy without an mtls peer means DISABLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AlphaPeerMode {
    Strict,
    Permissive,
    Disable,
}

impl AlphaPeerMode {
    pub fn mode(self) -> Mode {
        match self {
            Self::Strict => Mode::Strict,
            Self::Permissive => Mode::Permissive,
            Self::Disable => Mode::Disable,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlphaTarget {
    pub name: String,
    pub ports: Vec<PortRef>,
    pub at: Location,
}

/// `authentication.istio.io/v1alpha1` MeshPolicy (cluster-scoped, `namespace` empty) or Policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlphaPolicy {
    pub meta: Meta,
    pub mesh: bool,
    pub targets: Vec<AlphaTarget>,
    pub peer: AlphaPeerMode,
    pub has_jwt_origins: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GatewayTlsMode {
    Passthrough,
    Simple,
    Mutual,
    AutoPassthrough,
    IstioMutual,
    OptionalMutual,
}

impl fmt::Display for GatewayTlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Passthrough => "PASSTHROUGH",
            Self::Simple => "SIMPLE",
            Self::Mutual => "MUTUAL",
            Self::AutoPassthrough => "AUTO_PASSTHROUGH",
            Self::IstioMutual => "ISTIO_MUTUAL",
            Self::OptionalMutual => "OPTIONAL_MUTUAL",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayTls {
    pub mode: GatewayTlsMode,
    pub https_redirect: bool,
    pub has_credential: bool,
    pub has_ca: bool,
    pub has_cert_fields: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayServer {
    pub port: u16,
    pub port_name: Option<String>,
    pub protocol: String,
    pub hosts: Vec<String>,
    pub tls: Option<GatewayTls>,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub meta: Meta,
    pub selector: Labels,
    pub servers: Vec<GatewayServer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthzAction {
    Allow,
    Deny,
    Audit,
    Custom,
}

/// One `from.source` of an AuthorizationPolicy rule, reduced to what the connection shows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzSource {
    pub principals: Vec<String>,
    pub not_principals: Vec<String>,
    pub namespaces: Vec<String>,
    pub not_namespaces: Vec<String>,
    /// ipBlocks, requestPrincipals, remoteIpBlocks …: fields the identity check does not see.
    pub other_fields: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzRule {
    /// Empty: any source.
    pub from: Vec<AuthzSource>,
    /// Ports from `to.operation.ports` (empty: any port).
    pub ports: Vec<u16>,
    pub not_ports: Vec<u16>,
    /// HTTP-only fields in `to`/`when` (methods, paths, hosts, request headers …).
    pub http_fields: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    pub meta: Meta,
    pub selector: Option<Selector>,
    pub action: AuthzAction,
    /// `None`: `rules` absent. `Some(empty)`: `rules: []`.
    pub rules: Option<Vec<AuthzRule>>,
}

/// Documents by kind: the ones read, and the ones skipped because they do not bear on mTLS
/// (what a cluster dump carries besides: Secrets, Events, ConfigMaps other than the mesh's).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Inventory {
    pub read: std::collections::BTreeMap<String, u64>,
    pub skipped: std::collections::BTreeMap<String, u64>,
}

impl Inventory {
    /// Adds the counts of `other`.
    pub(crate) fn add(&mut self, other: Inventory) {
        for (kind, n) in other.read {
            *self.read.entry(kind).or_default() += n;
        }
        for (kind, n) in other.skipped {
            *self.skipped.entry(kind).or_default() += n;
        }
    }

    pub(crate) fn count_read(&mut self, kind: &str) {
        count(&mut self.read, kind);
    }
    pub(crate) fn count_skipped(&mut self, kind: &str) {
        count(&mut self.skipped, kind);
    }
}

/// One more of `kind`; the name is copied only the first time (this runs once per document).
fn count(counts: &mut std::collections::BTreeMap<String, u64>, kind: &str) {
    match counts.get_mut(kind) {
        Some(n) => *n += 1,
        None => {
            counts.insert(kind.to_owned(), 1);
        }
    }
}

/// Everything the parser read, in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub namespaces: Vec<Namespace>,
    pub workloads: Vec<Workload>,
    pub services: Vec<Service>,
    pub service_entries: Vec<ServiceEntry>,
    pub service_endpoints: Vec<ServiceEndpointList>,
    pub inventory: Inventory,
    pub service_accounts: Vec<ServiceAccount>,
    pub virtual_services: Vec<VirtualService>,
    pub mesh_config: Option<MeshConfig>,
    pub peer_authentications: Vec<PeerAuthentication>,
    pub destination_rules: Vec<DestinationRule>,
    pub alpha_policies: Vec<AlphaPolicy>,
    pub gateways: Vec<Gateway>,
    pub authorization_policies: Vec<AuthorizationPolicy>,
}

impl Resources {
    /// `later`'s resources after these, as if read in one stream (a mesh config in `later`
    /// replaces this one's, as a later document's does).
    pub(crate) fn append(&mut self, later: Resources) {
        let Resources {
            namespaces,
            workloads,
            services,
            service_entries,
            service_endpoints,
            inventory,
            service_accounts,
            virtual_services,
            mesh_config,
            peer_authentications,
            destination_rules,
            alpha_policies,
            gateways,
            authorization_policies,
        } = later;
        self.namespaces.extend(namespaces);
        self.workloads.extend(workloads);
        self.services.extend(services);
        self.service_entries.extend(service_entries);
        self.service_endpoints.extend(service_endpoints);
        self.inventory.add(inventory);
        self.service_accounts.extend(service_accounts);
        self.virtual_services.extend(virtual_services);
        if mesh_config.is_some() {
            self.mesh_config = mesh_config;
        }
        self.peer_authentications.extend(peer_authentications);
        self.destination_rules.extend(destination_rules);
        self.alpha_policies.extend(alpha_policies);
        self.gateways.extend(gateways);
        self.authorization_policies.extend(authorization_policies);
    }
}
