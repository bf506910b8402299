//! Reachability: for every client × service port × endpoint (× subset reached through a
//! VirtualService), what the client sends, what the server accepts, and what a user sees.
//!
//! Client TLS follows `pilot/pkg/networking/core/cluster_tls.go :: buildUpstreamTLSSettings`
//! and, for auto mTLS, `pilot/pkg/xds/endpoints/mtls_checker.go :: checkMtlsEnabled`; the
//! outcome follows the transport matrix of docs/reach.md ("One call, three stages").

use crate::authz::{AuthzDecision, AuthzDenial};
use crate::client::{RuleTls, resolve_host, rule_tls};
use crate::identity::SpiffeId;
use crate::index::{Analysis, ServiceView, WorkloadView, host_matches_query};
use crate::model::{Mode, ServicePort, TlsMode};
use crate::provenance::{AutoMtls, ClientTlsSource, RuleTlsSetting};
use crate::report::{Call, ClientTlsKind, Outcome, ReachReport, ServerModeKind, ServerVerification};
use crate::server::{alpha_chain, target_port};
use std::ops::ControlFlow;

mod summary;
pub use summary::{
    FailureGroup, NamespaceMatrix, NamespacePair, RankedPairs, ReachSummary, StreamedSummary, summarize,
    summarize_streamed,
};

/// Which calls to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReachFilter {
    /// Client workloads as `namespace/name` (empty: all).
    pub from: Vec<String>,
    /// Destinations as `HOST[:PORT]` (empty: all); HOST is an FQDN or `name.namespace`.
    pub to: Vec<String>,
    /// Only calls landing on this workload (`namespace/name`).
    pub to_workload: Option<String>,
    /// Only calls from or to these namespaces (empty: all): the client's namespace or the
    /// service's is one of them.
    pub namespaces: Vec<String>,
    /// Only calls from clients of this namespace (a cell of the namespace × namespace view).
    pub client_namespace: Option<String>,
    /// Only calls to services of this namespace.
    pub service_namespace: Option<String>,
}

impl ReachFilter {
    fn in_namespaces(&self, ns: &str) -> bool {
        self.namespaces.iter().any(|n| n == ns)
    }

    /// Whether the filter keeps every client's calls to a service of `service_ns`.
    fn wants_service_namespace(&self, service_ns: &str) -> bool {
        self.namespaces.is_empty() || self.in_namespaces(service_ns)
    }

    /// Whether the filter keeps calls from `client_ns` to a service of `service_ns`.
    fn wants_namespaces(&self, client_ns: &str, service_ns: &str) -> bool {
        self.wants_service_namespace(service_ns) || self.in_namespaces(client_ns)
    }

    fn wants_client(&self, key: &str) -> bool {
        let namespace = key.split_once('/').map_or(key, |(ns, _)| ns);
        self.client_namespace.as_deref().is_none_or(|want| want == namespace)
            && (self.from.is_empty() || self.from.iter().any(|f| f == key))
    }

    fn wants_destination(&self, svc: &ServiceView, port: u16) -> bool {
        let wanted_port = self.to.is_empty()
            || self.to.iter().any(|t| {
                let (host, want_port) = match t.rsplit_once(':') {
                    Some((h, p)) => (h, p.parse::<u16>().ok()),
                    None => (t.as_str(), None),
                };
                host_matches_query(&svc.host, host) && want_port.is_none_or(|p| p == port)
            });
        wanted_port && self.service_namespace.as_deref().is_none_or(|want| want == svc.namespace)
    }
}

/// What the client puts on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sends {
    Plaintext,
    IstioMutual,
    UserTls,
}

struct ClientSide<'a> {
    kind: ClientTlsKind,
    source: Source<'a>,
    sends: Sends,
    /// The ISTIO_MUTUAL rule's SANs (`client::rule_sans`); `None`: the service's identities.
    dr_sans: Option<&'a [String]>,
    /// The rule's `sni`, if it sets one.
    sni: Option<&'a str>,
}

/// [`ClientTlsSource`], borrowing the rule: most calls are only counted, so the source is
/// copied out ([`Source::owned`]) only for the calls put into words.
enum Source<'a> {
    NoSidecar,
    Rule { rule: RuleTls<'a>, setting: RuleTlsSetting },
    AutoMtls { unset_by: Option<RuleTls<'a>>, decision: AutoMtls },
}

impl Source<'_> {
    fn owned(&self) -> ClientTlsSource {
        match self {
            Source::NoSidecar => ClientTlsSource::NoSidecar,
            Source::Rule { rule, setting } => ClientTlsSource::Rule { part: rule.part(), setting: *setting },
            Source::AutoMtls { unset_by, decision } => {
                ClientTlsSource::AutoMtls { unset_by: unset_by.as_ref().map(RuleTls::part), decision: decision.clone() }
            }
        }
    }
}

pub fn calls(a: &Analysis, filter: &ReachFilter) -> ReachReport {
    let mut out = Vec::new();
    for_each_call(a, filter, |c| out.push(c));
    ReachReport { calls: out }
}

/// The service ports a filter wants, with the subsets mesh VirtualServices route to on each:
/// computed once, not once per client.
fn destinations<'a>(a: &'a Analysis, filter: &ReachFilter) -> Vec<(&'a ServiceView, &'a ServicePort, Vec<String>)> {
    indexed_destinations(a, filter).into_iter().map(|(_, svc, sp, subsets)| (svc, sp, subsets)).collect()
}

/// [`destinations`] with each service's index in `Analysis::services`.
fn indexed_destinations<'a>(
    a: &'a Analysis,
    filter: &ReachFilter,
) -> Vec<(usize, &'a ServiceView, &'a ServicePort, Vec<String>)> {
    let mut out = Vec::new();
    for (si, svc) in a.services.iter().enumerate().filter(|(_, s)| !s.endpoints.is_empty()) {
        for sp in svc.ports.iter().filter(|sp| filter.wants_destination(svc, sp.port)) {
            out.push((si, svc, sp, routed_subsets(a, svc, sp.port)));
        }
    }
    out
}

/// Visits every call without collecting them: a full matrix of a large mesh is millions of rows,
/// which a caller can stream or count in constant memory.
pub fn for_each_call(a: &Analysis, filter: &ReachFilter, mut visit: impl FnMut(Call)) {
    let _ = try_for_each_call(a, filter, |call| {
        visit(call);
        ControlFlow::<()>::Continue(())
    });
}

/// [`for_each_call`] that the visitor can stop early (a caller that wants the first few calls of
/// each outcome stops once it has them).
pub fn try_for_each_call<B>(
    a: &Analysis,
    filter: &ReachFilter,
    mut visit: impl FnMut(Call) -> ControlFlow<B>,
) -> ControlFlow<B> {
    try_for_each_evaluated(a, filter, |e| visit(e.call))
}

fn try_for_each_evaluated<B>(
    a: &Analysis,
    filter: &ReachFilter,
    mut visit: impl FnMut(Evaluated) -> ControlFlow<B>,
) -> ControlFlow<B> {
    let destinations = destinations(a, filter);
    for client in a.workloads.iter().filter(|w| w.workload.kind.is_client()) {
        if !filter.wants_client(&client.key()) {
            continue;
        }
        for (svc, sp, subsets) in &destinations {
            if !filter.wants_namespaces(client.namespace(), &svc.namespace) {
                continue;
            }
            let routes = routes(client.sidecar, subsets);
            for subset in routes {
                // Self-calls included: a workload calling its own Service goes out through its
                // sidecar and back in through it (`tools/istio-iptables/pkg/capture/run.go`
                // redirects the proxy's own traffic to its pod IP to the inbound port).
                for &ei in &svc.endpoints {
                    let Some(endpoint) = a.workloads.get(ei) else {
                        continue;
                    };
                    if filter.to_workload.as_deref().is_some_and(|k| k != endpoint.key()) {
                        continue;
                    }
                    if let Some(e) = routed_call(a, client, svc, sp, subset, endpoint) {
                        visit(e)?;
                    }
                }
            }
        }
    }
    ControlFlow::Continue(())
}

/// The routes a client takes to a service port: through each routed subset when the client has
/// a sidecar (VirtualServices are applied by the client's proxy), else straight to the service.
fn routes(sidecar: bool, subsets: &[String]) -> Vec<Option<&str>> {
    if sidecar && !subsets.is_empty() { subsets.iter().map(|s| Some(s.as_str())).collect() } else { vec![None] }
}

/// One call along one route, or `None` when the route's subset does not select the endpoint.
fn routed_call(
    a: &Analysis,
    client: &WorkloadView,
    svc: &ServiceView,
    sp: &ServicePort,
    subset: Option<&str>,
    endpoint: &WorkloadView,
) -> Option<Evaluated> {
    routed(a, client, svc, sp, subset, endpoint).map(Routed::render)
}

/// One call along one route, decided and not yet in words (see [`Decided`]).
pub(crate) struct Routed<'a> {
    decided: Decided<'a>,
    /// The route's subset, when the DestinationRule the client uses does not define it.
    undefined: Option<&'a str>,
}

impl Routed<'_> {
    pub(crate) fn outcome(&self) -> Outcome {
        if self.undefined.is_some() { Outcome::Fails } else { self.decided.outcome() }
    }

    /// The cause [`Routed::render`] gives a failing call, without putting the call in words
    /// (`None` for a call that works): what the summary groups by.
    pub(crate) fn cause(&self) -> Option<String> {
        match self.undefined {
            Some(name) => Some(undefined_subset_cause(&self.decided.svc.host, name)),
            None => self.decided.cause(),
        }
    }

    pub(crate) fn render(self) -> Evaluated {
        let host = self.decided.svc.host.as_str();
        let mut e = self.decided.render();
        if let Some(name) = self.undefined {
            // The route names a cluster that does not exist.
            e.call.outcome = Outcome::Fails;
            e.call.failure = Some(SymptomClass::Other);
            e.call.symptom = Some(format!(
                "503 (NC: no cluster): the VirtualService routes to subset {name}, which the \
                 DestinationRule this client uses does not define"
            ));
            e.call.explanation = format!("{}; subset {name} is undefined", e.call.explanation);
            e.cause = Some(undefined_subset_cause(host, name));
        }
        e
    }
}

fn undefined_subset_cause(host: &str, subset: &str) -> String {
    format!(
        "a VirtualService routes {host} to subset {subset}, which the DestinationRule the client uses does not define"
    )
}

/// [`routed_call`], decided only.
fn routed<'a>(
    a: &'a Analysis,
    client: &'a WorkloadView,
    svc: &'a ServiceView,
    sp: &'a ServicePort,
    subset: Option<&'a str>,
    endpoint: &'a WorkloadView,
) -> Option<Routed<'a>> {
    let undefined = match subset {
        None => None,
        Some(name) => match subset_match(a, client, svc, name, endpoint) {
            SubsetMatch::Selects => None,
            SubsetMatch::Excludes => return None,
            SubsetMatch::Undefined => Some(name),
        },
    };
    Some(Routed { decided: decide(a, client, svc, sp, subset, endpoint), undefined })
}

/// How many calls [`for_each_call`] visits, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReachCounts {
    pub total: u64,
    pub failing: u64,
    /// Admitted without mutual TLS.
    pub plaintext: u64,
    pub mtls: u64,
}

impl ReachCounts {
    fn add(&mut self, outcome: Outcome, times: u64) {
        self.total += times;
        match outcome {
            Outcome::Fails => self.failing += times,
            Outcome::Mtls => self.mtls += times,
            Outcome::Plaintext => self.plaintext += times,
        }
    }

    fn add_scaled(&mut self, other: &ReachCounts, times: u64) {
        self.total += other.total * times;
        self.failing += other.failing * times;
        self.plaintext += other.plaintext * times;
        self.mtls += other.mtls * times;
    }
}

/// Clients whose calls to one service have the same outcome, evaluated once and counted
/// `size` times.
struct ClientClass<'a> {
    representative: &'a WorkloadView,
    /// The representative's index in `Analysis::workloads`.
    rep: usize,
    size: u64,
    members: Members<'a>,
}

/// Whom a class stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Members<'a> {
    /// Every wanted client without a sidecar: it sends plaintext whatever its namespace.
    NoSidecar(Scope),
    /// These wanted sidecar clients, all of one namespace.
    Listed(&'a str, Vec<usize>),
    /// Every wanted sidecar client outside these namespaces: they see the same rule for the host.
    SidecarsOutside(Scope, Vec<&'a str>),
}

/// Which clients a service's classes are drawn from: with `ReachFilter::namespaces`, a
/// service outside those namespaces is counted only for clients inside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Scope {
    All,
    FilterNamespaces,
}

/// The wanted clients, split the way classes are built from them.
struct Clients<'a> {
    scope: Scope,
    no_sidecar: Vec<usize>,
    /// Wanted sidecar clients by namespace.
    by_namespace: std::collections::BTreeMap<&'a str, Vec<usize>>,
    sidecar_total: usize,
}

impl<'a> Clients<'a> {
    fn of(a: &'a Analysis, filter: &ReachFilter, scope: Scope) -> Self {
        let mut clients = Clients { scope, no_sidecar: Vec::new(), by_namespace: Default::default(), sidecar_total: 0 };
        // Without `ReachFilter::namespaces` the filter's scope is empty.
        let in_scope = |w: &WorkloadView| scope == Scope::All || filter.in_namespaces(w.namespace());
        let wanted = |w: &WorkloadView| w.workload.kind.is_client() && in_scope(w) && filter.wants_client(&w.key());
        for (i, w) in a.workloads.iter().enumerate().filter(|(_, w)| wanted(w)) {
            if w.sidecar {
                clients.by_namespace.entry(w.namespace()).or_default().push(i);
                clients.sidecar_total += 1;
            } else {
                clients.no_sidecar.push(i);
            }
        }
        clients
    }
}

fn class_size(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Visits, per service port, endpoint and route, one call for each class of clients whose calls
/// there have the same outcome — time linear in the mesh, not clients × services. Per service,
/// clients fall into the few classes the DestinationRule lookup can tell apart
/// (`DestinationRuleIndex::lookup`): clients without a sidecar (no rule applies), sidecar clients
/// of a namespace that holds a rule for the host, selects by labels, is named in an exportTo, or
/// is the service's or the root namespace, and all other sidecar clients, who fall through to the
/// same service- and root-namespace rules. Nothing else of the client enters a call's outcome
/// ([`decide`] reads the client's sidecar, namespace and labels only) — except its identity when
/// an endpoint's AuthorizationPolicy conditions on the peer: for such a service the sidecar
/// clients are classed by namespace and identity instead.
fn for_each_class_call<'a>(
    a: &'a Analysis,
    filter: &ReachFilter,
    scopes: &Scopes<'a>,
    mut visit: impl FnMut(&ClientClass<'a>, &'a ServiceView, Routed<'_>),
) {
    let mut classes = ServiceClasses::new(a);
    for (svc, sp, subsets) in destinations(a, filter) {
        for class in classes.of(filter, scopes, svc) {
            for subset in routes(class.representative.sidecar, &subsets) {
                for &ei in &svc.endpoints {
                    let Some(endpoint) = a.workloads.get(ei) else { continue };
                    if filter.to_workload.as_deref().is_some_and(|k| k != endpoint.key()) {
                        continue;
                    }
                    if let Some(e) = routed(a, class.representative, svc, sp, subset, endpoint) {
                        visit(class, svc, e);
                    }
                }
            }
        }
    }
}

/// The client classes of each service in turn, computed once per service (see
/// [`for_each_class_call`]).
struct ServiceClasses<'a> {
    a: &'a Analysis,
    root: &'a str,
    selector_ns: std::collections::BTreeSet<&'a str>,
    export_named: std::collections::BTreeSet<&'a str>,
    named: Option<Vec<bool>>,
    current: Option<&'a ServiceView>,
    classes: Vec<ClientClass<'a>>,
}

impl<'a> ServiceClasses<'a> {
    fn new(a: &'a Analysis) -> Self {
        Self {
            a,
            root: a.mesh.root_namespace.as_str(),
            selector_ns: a.destination_rules.selector_namespaces(),
            export_named: a.destination_rules.export_named_namespaces(),
            named: None,
            current: None,
            classes: Vec::new(),
        }
    }

    fn of(&mut self, filter: &ReachFilter, scopes: &'_ Scopes<'a>, svc: &'a ServiceView) -> &[ClientClass<'a>] {
        let a = self.a;
        if !self.current.is_some_and(|c| std::ptr::eq(c, svc)) {
            self.current = Some(svc);
            let clients = scopes.for_service(filter, svc);
            let by_identity = svc
                .endpoints
                .iter()
                .filter_map(|&i| a.workloads.get(i))
                .any(|w| w.sidecar && w.authz.uses_identities());
            self.classes = if by_identity {
                let named = self.named.get_or_insert_with(|| named_by_principals(a));
                identity_classes(a, clients, &self.selector_ns, named)
            } else {
                let mut special = a.destination_rules.namespaces_matching(&svc.host);
                special.extend(self.export_named.iter().copied());
                special.extend(self.selector_ns.iter().copied());
                special.insert(svc.namespace.as_str());
                special.insert(self.root);
                client_classes(a, clients, &special, &self.selector_ns)
            };
        }
        &self.classes
    }
}

/// One class's call evaluated in two states of one mesh.
pub(crate) struct PairedCall<'p> {
    /// Clients the class stands for.
    pub size: u64,
    /// The representative client, the service and the endpoint (indexes, the same in both).
    pub client: usize,
    pub service: usize,
    pub port: &'p ServicePort,
    pub subset: Option<&'p str>,
    pub endpoint: usize,
    pub before: Evaluated,
    pub after: Evaluated,
}

/// Why two states cannot be compared class by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Misaligned;

/// Visits every class call of `before` together with the same call in `after`: exact per call
/// (every member of a class has the class's outcome) in time linear in the mesh. The two states
/// must hold the same workloads, services and VirtualServices and DestinationRules of the same
/// shape (they may differ in PeerAuthentications and in DestinationRule TLS): then the classes
/// of `before` are classes of `after` too. Returns the number of calls compared, or
/// [`Misaligned`] when the states differ in more than that.
pub(crate) fn for_each_class_pair(
    before: &Analysis,
    after: &Analysis,
    filter: &ReachFilter,
    mut visit: impl FnMut(PairedCall<'_>),
) -> Result<u64, Misaligned> {
    let aligned = before.workloads.len() == after.workloads.len()
        && before.services.len() == after.services.len()
        && before.workloads.iter().zip(&after.workloads).all(|(x, y)| x.key() == y.key() && x.sidecar == y.sidecar)
        && before.services.iter().zip(&after.services).all(|(x, y)| x.host == y.host && x.endpoints == y.endpoints)
        && before.resources.virtual_services == after.resources.virtual_services
        && before.destination_rules.same_shape(&after.destination_rules);
    if !aligned {
        return Err(Misaligned);
    }
    let scopes = Scopes::of(before, filter);
    let mut classes = ServiceClasses::new(before);
    let mut compared = 0u64;
    for (si, svc, sp, subsets) in indexed_destinations(before, filter) {
        let Some(after_svc) = after.services.get(si) else { return Err(Misaligned) };
        for class in classes.of(filter, &scopes, svc) {
            let Some(after_client) = after.workloads.get(class.rep) else { return Err(Misaligned) };
            for subset in routes(class.representative.sidecar, &subsets) {
                for &ei in &svc.endpoints {
                    let (Some(endpoint), Some(after_endpoint)) = (before.workloads.get(ei), after.workloads.get(ei))
                    else {
                        return Err(Misaligned);
                    };
                    if filter.to_workload.as_deref().is_some_and(|k| k != endpoint.key()) {
                        continue;
                    }
                    let b = routed_call(before, class.representative, svc, sp, subset, endpoint);
                    let c = routed_call(after, after_client, after_svc, sp, subset, after_endpoint);
                    match (b, c) {
                        (Some(b), Some(c)) => {
                            compared += class.size;
                            visit(PairedCall {
                                size: class.size,
                                client: class.rep,
                                service: si,
                                port: sp,
                                subset,
                                endpoint: ei,
                                before: b,
                                after: c,
                            });
                        }
                        (None, None) => {}
                        _ => return Err(Misaligned),
                    }
                }
            }
        }
    }
    Ok(compared)
}

/// The clients of every scope a filter needs.
struct Scopes<'a> {
    all: Clients<'a>,
    /// Only with `ReachFilter::namespaces`.
    namespaces: Clients<'a>,
}

impl<'a> Scopes<'a> {
    fn of(a: &'a Analysis, filter: &ReachFilter) -> Self {
        Scopes { all: Clients::of(a, filter, Scope::All), namespaces: Clients::of(a, filter, Scope::FilterNamespaces) }
    }

    fn for_service(&self, filter: &ReachFilter, svc: &ServiceView) -> &Clients<'a> {
        if filter.wants_service_namespace(&svc.namespace) { &self.all } else { &self.namespaces }
    }

    fn get(&self, scope: Scope) -> &Clients<'a> {
        match scope {
            Scope::All => &self.all,
            Scope::FilterNamespaces => &self.namespaces,
        }
    }
}

/// The counts of [`for_each_call`] in time linear in the mesh (see `for_each_class_call`).
pub fn count_calls(a: &Analysis, filter: &ReachFilter) -> ReachCounts {
    let scopes = Scopes::of(a, filter);
    let mut counts = ReachCounts::default();
    for_each_class_call(a, filter, &scopes, |class, _, e| counts.add(e.outcome(), class.size));
    counts
}

fn client_classes<'a>(
    a: &'a Analysis,
    clients: &Clients<'a>,
    special: &std::collections::BTreeSet<&'a str>,
    selector_ns: &std::collections::BTreeSet<&'a str>,
) -> Vec<ClientClass<'a>> {
    let workload = |i: usize| a.workloads.get(i);
    let mut classes: Vec<ClientClass<'a>> = no_sidecar_class(a, clients).into_iter().collect();
    let mut special_total = 0;
    for ns in special {
        let Some(list) = clients.by_namespace.get(ns) else { continue };
        special_total += list.len();
        if selector_ns.contains(ns) {
            classes.extend(grouped_classes(a, ns, list, |_, w| (None, Some(w.labels()))));
        } else if let Some((rep, representative)) = list.first().copied().and_then(|i| Some((i, workload(i)?))) {
            classes.push(ClientClass {
                representative,
                rep,
                size: class_size(list.len()),
                members: Members::Listed(ns, list.clone()),
            });
        }
    }
    let ordinary = clients.sidecar_total.saturating_sub(special_total);
    let first_ordinary =
        clients.by_namespace.iter().find(|(ns, _)| !special.contains(*ns)).and_then(|(_, l)| l.first());
    if ordinary > 0
        && let Some((rep, representative)) = first_ordinary.copied().and_then(|i| Some((i, workload(i)?)))
    {
        let except = special.iter().copied().collect();
        classes.push(ClientClass {
            representative,
            rep,
            size: class_size(ordinary),
            members: Members::SidecarsOutside(clients.scope, except),
        });
    }
    classes
}

fn no_sidecar_class<'a>(a: &'a Analysis, clients: &Clients<'a>) -> Option<ClientClass<'a>> {
    let rep = clients.no_sidecar.first().copied()?;
    let representative = a.workloads.get(rep)?;
    Some(ClientClass {
        representative,
        rep,
        size: class_size(clients.no_sidecar.len()),
        members: Members::NoSidecar(clients.scope),
    })
}

/// The classes of one namespace's clients grouped by a key (identity, labels).
fn grouped_classes<'a>(
    a: &'a Analysis,
    ns: &'a str,
    list: &[usize],
    key: impl Fn(usize, &'a WorkloadView) -> (Option<&'a str>, Option<&'a crate::model::Labels>),
) -> Vec<ClientClass<'a>> {
    let mut groups: std::collections::BTreeMap<_, Vec<usize>> = std::collections::BTreeMap::new();
    for &i in list {
        if let Some(w) = a.workloads.get(i) {
            groups.entry(key(i, w)).or_default().push(i);
        }
    }
    groups
        .into_values()
        .filter_map(|members| {
            let rep = members.first().copied()?;
            let representative = a.workloads.get(rep)?;
            Some(ClientClass {
                representative,
                rep,
                size: class_size(members.len()),
                members: Members::Listed(ns, members),
            })
        })
        .collect()
}

/// The client classes of a service whose endpoints authorize by identity: clients without a
/// sidecar (no identity reaches the server), then sidecar clients by namespace (what
/// `namespaces` conditions see), by identity where some `principals`/`notPrincipals` pattern of
/// the mesh names it (`named`; everyone else in the namespace is alike to every policy), and, in
/// namespaces where a DestinationRule selects by labels, by labels. A mesh-wide policy on
/// namespaces therefore adds one class per namespace, not one per workload.
fn identity_classes<'a>(
    a: &'a Analysis,
    clients: &Clients<'a>,
    selector_ns: &std::collections::BTreeSet<&'a str>,
    named: &[bool],
) -> Vec<ClientClass<'a>> {
    let mut classes: Vec<ClientClass<'a>> = no_sidecar_class(a, clients).into_iter().collect();
    for (ns, list) in &clients.by_namespace {
        let by_labels = selector_ns.contains(ns);
        classes.extend(grouped_classes(a, ns, list, |i, w| {
            let identity = named.get(i).copied().unwrap_or(true).then_some(w.identity.as_str());
            (identity, by_labels.then(|| w.labels()))
        }));
    }
    classes
}

/// Per workload: whether any `principals`/`notPrincipals` pattern of any AuthorizationPolicy
/// matches its identity (trust domain aliases included).
fn named_by_principals(a: &Analysis) -> Vec<bool> {
    let mut patterns: Vec<&str> = Vec::new();
    for ap in &a.resources.authorization_policies {
        for rule in ap.rules.iter().flatten() {
            for source in &rule.from {
                patterns.extend(source.principals.iter().chain(&source.not_principals).map(String::as_str));
            }
        }
    }
    // `*` matches every identity alike: it tells no two peers with an identity apart.
    patterns.retain(|p| *p != "*");
    patterns.sort_unstable();
    patterns.dedup();
    if patterns.is_empty() {
        return vec![false; a.workloads.len()];
    }
    let trust_domains = a.trust_domains();
    a.workloads
        .iter()
        .map(|w| {
            SpiffeId::parse(&w.identity).is_ok_and(|id| {
                let principal = id.principal();
                patterns.iter().any(|p| crate::authz::principal_matches(p, Some(&principal), trust_domains))
            })
        })
        .collect()
}

/// Subsets of `svc` that a mesh VirtualService routes to on `port`.
pub(crate) fn routed_subsets(a: &Analysis, svc: &ServiceView, port: u16) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for vs in &a.resources.virtual_services {
        if !(vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == "mesh")) {
            continue;
        }
        let ns = vs.meta.namespace();
        if !vs.hosts.iter().any(|h| resolve_host(h, ns) == svc.host) {
            continue;
        }
        for d in &vs.destinations {
            if resolve_host(&d.host, ns) != svc.host || d.port.is_some_and(|p| p != port) {
                continue;
            }
            if let Some(s) = &d.subset
                && !out.contains(s)
            {
                out.push(s.clone());
            }
        }
    }
    out
}

/// How a routed subset relates to one endpoint, for one client's DestinationRule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubsetMatch {
    Selects,
    Excludes,
    /// The rule the client uses defines no such subset (or the client uses no rule).
    Undefined,
}

pub(crate) fn subset_match(
    a: &Analysis,
    client: &WorkloadView,
    svc: &ServiceView,
    subset: &str,
    endpoint: &WorkloadView,
) -> SubsetMatch {
    let rule = a.destination_rules.lookup(client.namespace(), client.labels(), &svc.host, &svc.namespace);
    match rule.and_then(|r| r.subsets.iter().find(|(s, _)| s.name == subset)) {
        None => SubsetMatch::Undefined,
        Some((s, _)) if crate::model::selects(&s.labels, endpoint.labels()) => SubsetMatch::Selects,
        Some(_) => SubsetMatch::Excludes,
    }
}

/// `BestEffortInferServiceMTLSMode`: the mode auto mTLS assumes for a service, from mesh- and
/// namespace-level policy only ("ignore workload & port level policies").
fn service_mtls_mode(a: &Analysis, svc: &ServiceView, sp: &ServicePort, passthrough: bool) -> Option<Mode> {
    if svc.mesh_external {
        return None;
    }
    if svc.headless || passthrough {
        let any_plain = svc.endpoints.iter().filter_map(|&i| a.workloads.get(i)).any(|w| !w.sidecar);
        if svc.endpoints.is_empty() || any_plain {
            return Some(Mode::Disable);
        }
    }
    if a.read_beta
        && let Some(m) = a.namespace_mode(&svc.namespace)
    {
        return Some(m);
    }
    if a.read_alpha {
        let (m, chain) = alpha_chain(a, &svc.namespace, Some((svc, sp)));
        // 1.4 used the alpha mode outright (DISABLE without any policy); 1.5 only when a
        // policy exists, and PERMISSIVE otherwise.
        if !a.read_beta || chain.len() > 1 {
            return Some(m);
        }
    }
    Some(Mode::Permissive)
}

fn client_side<'a>(
    a: &'a Analysis,
    client: &WorkloadView,
    svc: &ServiceView,
    sp: &ServicePort,
    subset: Option<&str>,
    endpoint: &WorkloadView,
    target: u16,
) -> ClientSide<'a> {
    if !client.sidecar {
        return ClientSide {
            kind: ClientTlsKind::None,
            source: Source::NoSidecar,
            sends: Sends::Plaintext,
            dr_sans: None,
            sni: None,
        };
    }
    let rule = a.destination_rules.lookup(client.namespace(), client.labels(), &svc.host, &svc.namespace);
    let rt = rule.map(|r| rule_tls(r, sp.port, subset));
    if let Some(rt) = rt.clone()
        && let Some(tls) = rt.tls
    {
        let from_rule = |setting| Source::Rule { rule: rt, setting };
        // `cluster_tls.go :: buildUpstreamClusterTLSContext`: for a sidecar, a SIMPLE or MUTUAL
        // rule whose credentialName needs a Secret and that has no workloadSelector builds no TLS
        // context at all (so that every sidecar in scope does not wait for a Secret it may not
        // read): the cluster has no transport socket and the call goes out in plaintext. Only
        // gateways, and rules with a workloadSelector, originate TLS from credentialName.
        if matches!(tls.mode, TlsMode::Simple | TlsMode::Mutual)
            && tls.credential_secret
            && rule.is_some_and(|r| r.selector.is_none())
        {
            return ClientSide {
                kind: ClientTlsKind::Disable,
                source: from_rule(RuleTlsSetting::CredentialWithoutSelector(tls.mode)),
                sends: Sends::Plaintext,
                dr_sans: None,
                sni: None,
            };
        }
        let (sends, dr_sans) = match tls.mode {
            TlsMode::Disable => (Sends::Plaintext, None),
            TlsMode::IstioMutual => (Sends::IstioMutual, crate::client::rule_sans(tls)),
            TlsMode::Simple | TlsMode::Mutual => (Sends::UserTls, None),
        };
        let setting = if tls.mode_omitted { RuleTlsSetting::ModeOmitted } else { RuleTlsSetting::Mode(tls.mode) };
        return ClientSide {
            kind: tls.mode.into(),
            source: from_rule(setting),
            sends,
            dr_sans,
            sni: tls.sni.as_deref(),
        };
    }
    let plain = |decision: AutoMtls| ClientSide {
        kind: ClientTlsKind::Disable,
        source: Source::AutoMtls { unset_by: rt.clone(), decision },
        sends: Sends::Plaintext,
        dr_sans: None,
        sni: None,
    };
    if !a.auto_mtls {
        return plain(AutoMtls::Off);
    }
    let passthrough = rule.and_then(|r| r.traffic_policy.as_ref()).is_some_and(|(tp, _)| tp.passthrough_lb);
    match service_mtls_mode(a, svc, sp, passthrough) {
        None => return plain(AutoMtls::ServiceOutsideMesh),
        Some(Mode::Disable) if svc.headless || passthrough => return plain(AutoMtls::HeadlessWithPlaintextEndpoint),
        Some(Mode::Disable) => return plain(AutoMtls::NamespaceDisable { namespace: svc.namespace.clone() }),
        Some(_) => {}
    }
    if !endpoint.sidecar {
        return plain(AutoMtls::EndpointWithoutSidecar);
    }
    // Headless (ORIGINAL_DST) clusters get the TLS socket unconditionally: no per-endpoint check.
    if a.version.auto_mtls_checks_workload_policy()
        && !svc.headless
        && endpoint.server.mode_for_port(target) == Mode::Disable
    {
        return plain(AutoMtls::EndpointPortDisable { port: target });
    }
    ClientSide {
        kind: ClientTlsKind::IstioMutual,
        source: Source::AutoMtls { unset_by: rt, decision: AutoMtls::Mtls },
        sends: Sends::IstioMutual,
        dr_sans: None,
        sni: None,
    }
}

/// (whether the port carries HTTP, whether the server's app speaks TLS itself), from the port's
/// name prefix (Istio's protocol selection) or a ServiceEntry port's `protocol`.
/// Whether the app itself speaks TLS on a service port (named or declared HTTPS/TLS, or 443).
pub fn app_speaks_tls(sp: &ServicePort) -> bool {
    port_protocol(sp).1
}

fn port_protocol(sp: &ServicePort) -> (bool, bool) {
    // Compared without case and without a copy: this runs once per call decided.
    let name = sp.name.as_deref().unwrap_or("");
    let prefix = name.split('-').next().unwrap_or("");
    let is = |text: &str, names: &[&str]| names.iter().any(|n| text.eq_ignore_ascii_case(n));
    let protocol = sp.protocol.as_str();
    let http =
        is(prefix, &["http", "http2", "grpc", "grpc-web"]) || is(protocol, &["HTTP", "HTTP2", "GRPC", "GRPC-WEB"]);
    let app_tls = is(prefix, &["https", "tls"]) || is(protocol, &["HTTPS", "TLS"]) || sp.port == 443;
    (http, app_tls)
}

/// What a client without a sidecar sees when the server end resets the connection.
pub const RESET_56: &str =
    "connection reset by peer (curl: (56) Recv failure: Connection reset by peer; HTTP code 000)";
/// Envoy's local reply when the upstream connection ends before a response.
pub const UPSTREAM_503: &str =
    "503 upstream connect error or disconnect/reset before headers. reset reason: connection termination";
/// Envoy's local reply when the upstream certificate fails verification (secure naming or the
/// chain).
pub const CERTIFICATE_VERIFY_FAILED_503: &str = "503 upstream connect error or disconnect/reset before headers. reset reason: connection failure, \
     transport failure reason: TLS error: CERTIFICATE_VERIFY_FAILED";

pub use crate::report::SymptomClass;

/// A call and, when it fails, what breaks it in words that name the policy and not the client
/// (so failing calls group by it).
pub(crate) struct Evaluated {
    pub call: Call,
    pub cause: Option<String>,
}

/// The policy that decided a workload port's mode, for a cause.
fn server_mode_source(endpoint: &WorkloadView, target: u16) -> String {
    endpoint
        .server
        .chain_for_port(target)
        .iter()
        .rev()
        .find(|c| c.effect == crate::report::Effect::Applied)
        .map_or_else(|| "the default (no policy)".to_owned(), |c| c.policy.to_string())
}

/// What happens to the bytes the client sends, by what it sends and what the server end is: one
/// variant per case of the outcome matrix that [`decide`] tells apart.
/// The words for each (`why`, `symptom`) are built only when a call is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    PlaintextToStrict,
    PlaintextToPermissive,
    PlaintextToDisable,
    /// No sidecar on either side, a server outside the mesh.
    PlaintextOutsideNoSidecars,
    /// The client app's own TLS through its sidecar to a server outside the mesh.
    AppTlsToOutside,
    PlaintextToOutsideTlsPort,
    PlaintextToOutside,
    PlaintextToNoSidecar,
    /// The server's identity is not one the client accepts.
    SecureNaming,
    MtlsWithAppTls,
    Mtls,
    MtlsToDisable,
    MtlsToOutside,
    MtlsToNoSidecar,
    UserTlsToStrict,
    UserTlsToPermissiveHttp,
    TlsInTlsToOutside,
    UserTlsToOutsideTls,
    UserTlsPassedThrough,
    UserTlsToPlaintextApp,
}

impl Transport {
    fn outcome(self) -> Outcome {
        use Transport::*;
        match self {
            PlaintextToPermissive
            | PlaintextToDisable
            | PlaintextOutsideNoSidecars
            | AppTlsToOutside
            | PlaintextToOutside
            | PlaintextToNoSidecar
            | UserTlsToOutsideTls
            | UserTlsPassedThrough => Outcome::Plaintext,
            MtlsWithAppTls | Mtls => Outcome::Mtls,
            PlaintextToStrict
            | PlaintextToOutsideTlsPort
            | SecureNaming
            | MtlsToDisable
            | MtlsToOutside
            | MtlsToNoSidecar
            | UserTlsToStrict
            | UserTlsToPermissiveHttp
            | TlsInTlsToOutside
            | UserTlsToPlaintextApp => Outcome::Fails,
        }
    }
}

/// A call decided but not yet put into words: deciding allocates next to nothing, and
/// [`Decided::render`] builds the explanation, symptom and cause only for the calls a caller
/// lists or groups (counting the reach matrix and the lint's pass over the calls that work need
/// only the outcome).
pub(crate) struct Decided<'a> {
    client: &'a WorkloadView,
    svc: &'a ServiceView,
    sp: &'a ServicePort,
    subset: Option<&'a str>,
    endpoint: &'a WorkloadView,
    target: u16,
    server_mode: Option<Mode>,
    cs: ClientSide<'a>,
    http: bool,
    app_tls: bool,
    transport: Transport,
    /// The server's AuthorizationPolicy decision, when it was consulted (an admitted call to a
    /// sidecar whose workload has policies), with the peer identity it saw.
    authz: Option<(Option<SpiffeId>, AuthzDecision<'a>)>,
}

pub(crate) fn decide<'a>(
    a: &'a Analysis,
    client: &'a WorkloadView,
    svc: &'a ServiceView,
    sp: &'a ServicePort,
    subset: Option<&'a str>,
    endpoint: &'a WorkloadView,
) -> Decided<'a> {
    let target = target_port(sp, &endpoint.workload).unwrap_or(sp.port);
    let server_mode = if endpoint.sidecar { Some(endpoint.server.mode_for_port(target)) } else { None };
    let cs = client_side(a, client, svc, sp, subset, endpoint, target);
    let (http, app_tls) = port_protocol(sp);
    // An address that is not a Kubernetes workload (an external host, the API server) is reached
    // by a sidecar on the entry's targetPort; one listening on 443 speaks TLS whatever the
    // service port is called (the egress pattern "the app sends HTTP to port 80, the rule
    // originates TLS to 443" relies on it). A client without a sidecar connects to the service
    // port itself, in the protocol the port is named for.
    let outside = !endpoint.workload.kind.is_client();
    let outside_speaks_tls = app_tls || target == 443;
    use Transport::*;
    let transport = match (cs.sends, server_mode) {
        (Sends::Plaintext, Some(Mode::Strict)) => PlaintextToStrict,
        (Sends::Plaintext, Some(Mode::Permissive)) => PlaintextToPermissive,
        (Sends::Plaintext, Some(Mode::Disable)) => PlaintextToDisable,
        (Sends::Plaintext, None) if outside && !client.sidecar => PlaintextOutsideNoSidecars,
        (Sends::Plaintext, None) if outside && app_tls => AppTlsToOutside,
        (Sends::Plaintext, None) if outside && outside_speaks_tls => PlaintextToOutsideTlsPort,
        (Sends::Plaintext, None) if outside => PlaintextToOutside,
        (Sends::Plaintext, None) => PlaintextToNoSidecar,
        (Sends::IstioMutual, Some(Mode::Strict | Mode::Permissive)) => {
            let expected = crate::client::accepted_sans(cs.dr_sans, &svc.identities);
            if !expected.is_empty() && !expected.contains(&endpoint.identity) {
                SecureNaming
            } else if app_tls {
                MtlsWithAppTls
            } else {
                Mtls
            }
        }
        (Sends::IstioMutual, Some(Mode::Disable)) => MtlsToDisable,
        (Sends::IstioMutual, None) if outside => MtlsToOutside,
        (Sends::IstioMutual, None) => MtlsToNoSidecar,
        (Sends::UserTls, Some(Mode::Strict)) => UserTlsToStrict,
        (Sends::UserTls, Some(Mode::Permissive)) if http => UserTlsToPermissiveHttp,
        (Sends::UserTls, None) if outside && app_tls => TlsInTlsToOutside,
        (Sends::UserTls, None) if outside && outside_speaks_tls => UserTlsToOutsideTls,
        (Sends::UserTls, _) if app_tls => UserTlsPassedThrough,
        (Sends::UserTls, _) => UserTlsToPlaintextApp,
    };
    let outcome = transport.outcome();
    let authz = (server_mode.is_some() && outcome.ok() && !endpoint.authz.is_empty()).then(|| {
        let peer = authz_peer(client, cs.sends, outcome);
        let decision = endpoint.authz.decide(target, peer.as_ref(), a.trust_domains());
        (peer, decision)
    });
    Decided { client, svc, sp, subset, endpoint, target, server_mode, cs, http, app_tls, transport, authz }
}

impl Decided<'_> {
    /// The server's AuthorizationPolicy refused a call whose transport worked.
    pub(crate) fn denied_by_authz(&self) -> bool {
        matches!(self.authz, Some((_, AuthzDecision::Denied(_))))
    }

    pub(crate) fn outcome(&self) -> Outcome {
        if self.denied_by_authz() { Outcome::Fails } else { self.transport.outcome() }
    }

    /// Why the transport has its outcome, in words.
    fn why(&self) -> String {
        use Transport::*;
        let text = match self.transport {
            PlaintextToStrict => "plaintext to a STRICT port matches no filter chain",
            PlaintextToPermissive => "PERMISSIVE accepts plaintext",
            PlaintextToDisable => "DISABLE accepts plaintext",
            PlaintextOutsideNoSidecars => {
                let what = if self.app_tls { "the app's own TLS" } else { "plaintext" };
                return format!("{what} straight to a server outside the mesh (no sidecar on either side)");
            }
            AppTlsToOutside => {
                "the client app's own TLS passes the sidecar at L4 to a server outside the mesh: encrypted end to \
                 end, not mesh mTLS"
            }
            PlaintextToOutsideTlsPort => "plaintext to a TLS port of a server outside the mesh",
            PlaintextToOutside => "plaintext to a server outside the mesh (no sidecar there)",
            PlaintextToNoSidecar => "no sidecar: the app receives plaintext",
            SecureNaming => "secure naming: the server's identity is not one the client expects",
            MtlsWithAppTls => "Istio mTLS terminated by the server sidecar, the app's own TLS inside it (TLS in mTLS)",
            Mtls => "Istio mTLS terminated by the server sidecar",
            MtlsToDisable => "Istio mTLS to a port whose mTLS is DISABLE",
            MtlsToOutside => "Istio mTLS to a server outside the mesh (it has no sidecar)",
            MtlsToNoSidecar => "Istio mTLS to a workload without a sidecar",
            UserTlsToStrict => "SIMPLE/MUTUAL TLS is not Istio mTLS (code-derived)",
            UserTlsToPermissiveHttp => "PERMISSIVE has no chain for non-Istio TLS on an HTTP port (code-derived)",
            TlsInTlsToOutside => "SIMPLE/MUTUAL origination on a port where the app itself speaks TLS",
            UserTlsToOutsideTls => {
                "the client sidecar originates TLS (SIMPLE/MUTUAL) to a server outside the mesh that speaks TLS"
            }
            UserTlsPassedThrough => "TLS passed through to an app that terminates TLS itself (code-derived)",
            UserTlsToPlaintextApp => "the client originates TLS but the app does not terminate it (code-derived)",
        };
        text.to_owned()
    }

    /// What a user sees when the transport fails, with its class: what a running data path
    /// shows, coarsely (`meshlock simulate` compares the two).
    fn symptom(&self) -> Option<(SymptomClass, String)> {
        use SymptomClass::{CertificateVerifyFailed, NoFilterChain, Reset};
        use Transport::*;
        let (target, port) = (self.target, self.sp.port);
        Some(match self.transport {
            PlaintextToStrict => {
                let symptom = if self.client.sidecar && self.http {
                    format!("{UPSTREAM_503} (UF); the server sidecar logs NR filter_chain_not_found")
                } else {
                    format!("{RESET_56}; the server sidecar logs NR filter_chain_not_found")
                };
                (NoFilterChain, symptom)
            }
            PlaintextToOutsideTlsPort => (
                Reset,
                format!(
                    "the sidecar forwards the app's plaintext to port {target}, where the server expects TLS (HTTP 400 \
                 or a reset); a DestinationRule with tls.mode SIMPLE for port {port} would originate it"
                ),
            ),
            SecureNaming => (
                CertificateVerifyFailed,
                format!(
                    "{CERTIFICATE_VERIFY_FAILED_503} (UF); the server presents {}, not one of {}",
                    self.endpoint.identity,
                    self.accepted_sans().join(", ")
                ),
            ),
            MtlsToDisable => (
                Reset,
                format!("{UPSTREAM_503} (UF); the server's mTLS is DISABLE, so the Istio TLS bytes reach the app"),
            ),
            MtlsToOutside => (
                Reset,
                format!(
                    "{UPSTREAM_503} (UF); the client sidecar wraps the call in Istio mTLS, which a server outside the \
                     mesh cannot terminate"
                ),
            ),
            MtlsToNoSidecar => (Reset, format!("{UPSTREAM_503} (UF); Istio mTLS to a workload without a sidecar")),
            UserTlsToStrict => (
                Reset,
                format!(
                    "{UPSTREAM_503} (UF); TLS error: the STRICT sidecar wants an Istio client certificate and the istio \
                     ALPN"
                ),
            ),
            UserTlsToPermissiveHttp => (
                NoFilterChain,
                format!(
                    "{UPSTREAM_503} (UF); the server sidecar logs NR filter_chain_not_found (TLS without the istio ALPN \
                     on an HTTP port)"
                ),
            ),
            TlsInTlsToOutside => (
                Reset,
                format!(
                    "{UPSTREAM_503}; TLS inside TLS: the app already speaks TLS on this port and the sidecar \
                     originates TLS again"
                ),
            ),
            UserTlsToPlaintextApp => (Reset, format!("{UPSTREAM_503} (UF); TLS sent to an app that speaks plaintext")),
            PlaintextToPermissive
            | PlaintextToDisable
            | PlaintextOutsideNoSidecars
            | AppTlsToOutside
            | PlaintextToOutside
            | PlaintextToNoSidecar
            | MtlsWithAppTls
            | Mtls
            | UserTlsToOutsideTls
            | UserTlsPassedThrough => return None,
        })
    }

    fn accepted_sans(&self) -> &[String] {
        crate::client::accepted_sans(self.cs.dr_sans, &self.svc.identities)
    }

    /// What a call the transport fails is put down to: `why` with the setting behind it.
    fn transport_cause(&self, why: &str) -> String {
        match (self.cs.sends, self.server_mode) {
            (Sends::IstioMutual, Some(Mode::Strict | Mode::Permissive)) => {
                format!("{why}: {} accepts {}", self.svc.host, self.accepted_sans().join(", "))
            }
            (_, None) => format!("{why} (client TLS: {})", self.cs.source.owned()),
            (_, Some(_)) => format!(
                "{why} (server: {}; client TLS: {})",
                server_mode_source(self.endpoint, self.target),
                self.cs.source.owned()
            ),
        }
    }

    /// The cause [`Decided::render`] gives (`None` for a call that works), without the rest of
    /// the words: an authorization refusal's own cause, else the transport's.
    pub(crate) fn cause(&self) -> Option<String> {
        if let Some((peer, decision)) = &self.authz
            && let Err(denied) = authorization_words(self.endpoint, peer.as_ref(), decision, self.http)
        {
            return Some(denied.cause);
        }
        (self.transport.outcome() == Outcome::Fails).then(|| self.transport_cause(&self.why()))
    }

    /// The server end as a call reports it.
    pub(crate) fn server_kind(&self) -> ServerModeKind {
        match self.server_mode {
            None => ServerModeKind::NoSidecar,
            Some(Mode::Strict) => ServerModeKind::Strict,
            Some(Mode::Permissive) => ServerModeKind::Permissive,
            Some(Mode::Disable) => ServerModeKind::Disable,
        }
    }

    /// What the client sidecar sends and the setting that decided it (the call's `client_tls`
    /// and `client_tls_source`).
    pub(crate) fn client_tls(&self) -> (ClientTlsKind, ClientTlsSource) {
        (self.cs.kind, self.cs.source.owned())
    }

    /// The workload that answers and the port it is reached on (the call's `to_workload` and
    /// `target_port`).
    pub(crate) fn endpoint(&self) -> (&WorkloadView, u16) {
        (self.endpoint, self.target)
    }

    /// The symptom [`Decided::render`] gives a call its transport fails (an authorization
    /// refusal has its own).
    pub(crate) fn transport_symptom(&self) -> Option<String> {
        self.symptom().map(|(_, text)| text)
    }

    /// The call in words.
    pub(crate) fn render(self) -> Evaluated {
        let server_kind = self.server_kind();
        let Decided { client, svc, sp, subset, endpoint, target, .. } = self;
        let outcome = self.transport.outcome();
        let symptom = self.symptom();
        let why = self.why();
        let mut cause = (outcome == Outcome::Fails).then(|| self.transport_cause(&why));
        let (outcome, symptom, why) = match &self.authz {
            Some((peer, decision)) => match authorization_words(endpoint, peer.as_ref(), decision, self.http) {
                Ok(note) => (outcome, symptom, note.map_or(why.clone(), |n| format!("{why}; {n}"))),
                Err(denied) => {
                    cause = Some(denied.cause);
                    (Outcome::Fails, Some((SymptomClass::Rbac, denied.symptom)), format!("{why}, but {}", denied.why))
                }
            },
            None => (outcome, symptom, why),
        };
        // `cluster_builder.go`: ISTIO_MUTUAL without its own `sni` sends
        // `BuildDNSSrvSubsetKey(outbound, subset, host, port)`.
        let verifies = (self.cs.sends == Sends::IstioMutual).then(|| ServerVerification {
            sni: self.cs.sni.map_or_else(|| crate::client::istio_mutual_sni(sp.port, subset, &svc.host), str::to_owned),
            accepted_sans: self.accepted_sans().to_vec(),
        });
        let (client_tls, source) = self.client_tls();
        let explanation = format!(
            "{} sends {client_tls} ({source}); {}:{target} is {server_kind}: {why}",
            client.key(),
            endpoint.key()
        );
        let (failure, symptom) = symptom.map_or((None, None), |(class, text)| (Some(class), Some(text)));
        let call = Call {
            from: client.key(),
            from_sidecar: client.sidecar,
            to: format!("{}:{}", svc.host, sp.port),
            to_workload: endpoint.key(),
            subset: subset.map(str::to_owned),
            client_tls,
            client_tls_source: source,
            server_mode: server_kind,
            outcome,
            symptom,
            failure,
            target_port: target,
            explanation,
            verifies,
        };
        Evaluated { call, cause }
    }
}

/// The peer identity the server sidecar's authorization sees: the client's SPIFFE ID when the
/// call is Istio mTLS, none for plaintext or the app's own TLS.
fn authz_peer(client: &WorkloadView, sends: Sends, outcome: Outcome) -> Option<SpiffeId> {
    if sends == Sends::IstioMutual && outcome == Outcome::Mtls { SpiffeId::parse(&client.identity).ok() } else { None }
}

/// A call refused by authorization.
struct Denied {
    symptom: String,
    /// Why, naming the peer.
    why: String,
    /// Why, naming only the policy.
    cause: String,
}

/// The server sidecar's AuthorizationPolicy decision for an admitted call (the one the filter
/// makes, `WorkloadAuthz::decide`) in words, with Istio's symptom. `Ok`: allowed (with a note
/// naming the ALLOW rule that admits it).
fn authorization_words(
    endpoint: &WorkloadView,
    peer: Option<&SpiffeId>,
    decision: &AuthzDecision<'_>,
    http: bool,
) -> Result<Option<String>, Denied> {
    let who = peer.map_or_else(|| "a peer without identity".to_owned(), |p| p.principal());
    match decision {
        AuthzDecision::Allowed(None) => Ok(None),
        AuthzDecision::Allowed(Some(rule)) => {
            Ok(Some(format!("AuthorizationPolicy {} rule {} allows {who}", rule.policy, rule.index)))
        }
        AuthzDecision::Denied(denial) => {
            let (logged, denied, cause) = match &denial {
                AuthzDenial::DenyRule { rule, widened } => {
                    let cause =
                        format!("DENY AuthorizationPolicy {} rule {} matches the peer", rule.policy, rule.index);
                    let mut denied =
                        format!("DENY AuthorizationPolicy {} rule {} matches {who}", rule.policy, rule.index);
                    if *widened {
                        denied.push_str(if http {
                            " (its request conditions — paths, methods, headers, JWT claims — are not evaluated \
                             statically: the filter drops them and denies the connection; Istio's HTTP RBAC \
                             denies only the requests that match them)"
                        } else {
                            " (on a TCP port Istio drops its HTTP-only conditions, so it denies every connection)"
                        });
                    }
                    (rule.envoy_policy_name(), denied, cause)
                }
                AuthzDenial::NoAllowRule { request_only } => {
                    let policies: Vec<&str> = endpoint.authz.allow.iter().map(|p| p.policy.as_str()).collect();
                    let cause = format!("no rule of ALLOW AuthorizationPolicy {} admits the peer", policies.join(", "));
                    let mut denied =
                        format!("no ALLOW AuthorizationPolicy rule selecting {} admits {who}", endpoint.key());
                    if let Some(rule) = request_only.first() {
                        denied.push_str(&if http {
                            format!(
                                " (ALLOW {} rule {} matches the peer but has request conditions — paths, methods, \
                                 headers, JWT claims — that meshlock does not evaluate statically: the filter \
                                 refuses the connection; in Istio requests that match them succeed)",
                                rule.policy, rule.index
                            )
                        } else {
                            format!(
                                " (ALLOW {} rule {} has HTTP-only conditions, which never match on a TCP port)",
                                rule.policy, rule.index
                            )
                        });
                    }
                    ("none".to_owned(), denied, cause)
                }
            };
            let symptom = if http {
                format!("403 RBAC: access denied; the server sidecar logs rbac_access_denied_matched_policy[{logged}]")
            } else {
                format!(
                    "the server sidecar's RBAC network filter closes the connection without a response (an empty \
                     reply or a reset); it logs rbac_access_denied_matched_policy[{logged}]"
                )
            };
            Err(Denied { symptom, why: denied, cause })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{MeshShape, authorization_policies, generate};
    use crate::{Options, Source};
    use std::collections::{BTreeMap, BTreeSet};

    /// The summary equals the full listing grouped by namespaces and by cause.
    fn summary_matches_listing(shape: &MeshShape) {
        let text = format!("{}{}", generate(shape), authorization_policies(shape));
        let a = Analysis::new(&[Source::new("m.yaml", text)], &Options::default());
        let namespaces =
            |n: &[&str]| ReachFilter { namespaces: n.iter().map(|s| (*s).to_owned()).collect(), ..Default::default() };
        let cell = ReachFilter {
            client_namespace: Some("ns0".to_owned()),
            service_namespace: Some("ns1".to_owned()),
            ..Default::default()
        };
        for filter in [ReachFilter::default(), namespaces(&["ns1"]), namespaces(&["ns0", "ns2"]), cell.clone()] {
            summary_matches_listing_with(&a, &filter);
        }
        // One cell of the namespace view is exactly the full listing's calls between the two.
        let mut want = ReachCounts::default();
        for_each_call(&a, &ReachFilter::default(), |c| {
            if c.from.starts_with("ns0/") && c.to_workload.starts_with("ns1/") {
                want.add(c.outcome, 1);
            }
        });
        assert!(want.total > 0);
        assert_eq!(count_calls(&a, &cell), want);
    }

    fn summary_matches_listing_with(a: &Analysis, filter: &ReachFilter) {
        let summary = summarize(a, filter, 2);
        // Streamed, the pairs are expanded as they are written: the same bytes.
        let streamed = serde_json::to_string_pretty(&summarize_streamed(a, filter, 2)).unwrap();
        assert_eq!(streamed, serde_json::to_string_pretty(&summary).unwrap());
        let mut cells: BTreeMap<(String, String), ReachCounts> = BTreeMap::new();
        let mut groups: BTreeMap<String, (u64, BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        let mut total = ReachCounts::default();
        let _ = try_for_each_evaluated(a, filter, |e| {
            let from_ns = e.call.from.split_once('/').map(|(ns, _)| ns.to_owned()).unwrap_or_default();
            let to_ns = e.call.to_workload.split_once('/').map(|(ns, _)| ns.to_owned()).unwrap_or_default();
            cells.entry((from_ns, to_ns)).or_default().add(e.call.outcome, 1);
            total.add(e.call.outcome, 1);
            assert_eq!(e.cause.is_some(), !e.call.outcome.ok(), "{}", e.call.explanation);
            if let Some(cause) = e.cause {
                let g = groups.entry(cause).or_default();
                g.0 += 1;
                g.1.insert(e.call.from.clone());
                let host = e.call.to.rsplit_once(':').map(|(h, _)| h.to_owned()).unwrap_or_default();
                g.2.insert(host);
            }
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(summary.counts, total);
        assert_eq!(summary.counts, count_calls(a, filter));
        if !filter.namespaces.is_empty() {
            assert!(summary.namespaces.iter().all(|p| filter.in_namespaces(&p.from) || filter.in_namespaces(&p.to)));
        }
        let got: BTreeMap<(String, String), ReachCounts> =
            summary.namespaces.iter().map(|p| ((p.from.clone(), p.to.clone()), p.counts)).collect();
        assert_eq!(got, cells);
        let got: BTreeMap<String, (u64, u64, u64)> =
            summary.failures.iter().map(|g| (g.cause.clone(), (g.calls, g.clients, g.services))).collect();
        let want: BTreeMap<String, (u64, u64, u64)> =
            groups.into_iter().map(|(c, (n, cl, sv))| (c, (n, cl.len() as u64, sv.len() as u64))).collect();
        assert_eq!(got, want);
        assert!(summary.failures.iter().all(|g| !g.examples.is_empty() && g.examples.len() <= 2));
    }

    /// The ranking of the pairs is the full list sorted by failing, plaintext and calls (ties in
    /// the pairs' order), cut to its length, whatever `keep` leaves.
    #[test]
    fn most_failing_pairs_are_the_sorted_list_cut() {
        let text = generate(&MeshShape { services: 120, per_namespace: 6, seed: 5 });
        let a = Analysis::new(&[Source::new("m.yaml", text)], &Options::default());
        let s = summarize_streamed(&a, &ReachFilter::default(), 0);
        let all: Vec<(&str, &str, ReachCounts)> = s.namespaces.pairs().collect();
        assert!(all.len() > 100 && all.iter().any(|p| p.2.failing > 0), "{}", all.len());
        assert_eq!(s.namespaces.names().len(), 20);
        type Keep = fn(&str, &str, &ReachCounts) -> bool;
        let keeps: [(&str, Keep); 3] = [
            ("every pair", |_, _, _| true),
            ("ns1 either way", |from, to, _| from == "ns1" || to == "ns1"),
            ("plaintext", |_, _, c| c.failing == 0 && c.plaintext > 0),
        ];
        for (what, keep) in keeps {
            let mut want: Vec<_> = all.iter().filter(|(f, t, c)| keep(f, t, c)).copied().collect();
            let kept = want.len();
            assert!(kept > 0, "{what}");
            // Stable: equal ranks stay in the pairs' order.
            want.sort_by_key(|p| std::cmp::Reverse((p.2.failing, p.2.plaintext, p.2.total)));
            for n in [0, 1, 7, kept - 1, kept, kept + 10] {
                let ranked = s.namespaces.most_failing(n, keep);
                assert_eq!(ranked.top, want.iter().take(n).copied().collect::<Vec<_>>(), "{what}, n = {n}");
                assert_eq!((ranked.kept, ranked.all), (kept, all.len()), "{what}");
            }
        }
    }

    /// A mesh-wide AuthorizationPolicy on namespaces (and on `*`) makes every service authorize
    /// by identity; the classes stay one per namespace, so the work stays linear, not one
    /// evaluation per client and endpoint.
    #[test]
    fn mesh_wide_namespace_policies_keep_classes_per_namespace() {
        let shape = MeshShape { services: 200, per_namespace: 20, seed: 3 };
        let policy = "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: mesh, namespace: istio-system}\n\
                      spec:\n  rules:\n  - from:\n    - source: {namespaces: [ns1, ns2]}\n  - from:\n    - source: {principals: [\"*\"]}\n    to:\n    - operation: {ports: [\"9090\"]}\n";
        let a = Analysis::new(&[Source::new("m.yaml", format!("{}{policy}", generate(&shape)))], &Options::default());
        assert!(a.workloads.iter().all(|w| !w.sidecar || w.authz.uses_identities()));
        let scopes = Scopes::of(&a, &ReachFilter::default());
        let mut evaluations = 0u64;
        for_each_class_call(&a, &ReachFilter::default(), &scopes, |_, _, _| evaluations += 1);
        let endpoint_ports: u64 = a.services.iter().map(|s| (s.endpoints.len() * s.ports.len()) as u64).sum();
        let namespaces = 10;
        assert!(
            evaluations <= endpoint_ports * (namespaces + 1),
            "{evaluations} evaluations for {endpoint_ports} endpoint ports"
        );
        assert_eq!(count_calls(&a, &ReachFilter::default()).total, {
            let mut n = 0;
            for_each_call(&a, &ReachFilter::default(), |_| n += 1);
            n
        });
    }

    #[test]
    fn the_summary_is_the_listing_grouped() {
        for (services, per_namespace, seed) in [(40, 5, 1), (60, 3, 7), (33, 1, 11), (50, 20, 3)] {
            summary_matches_listing(&MeshShape { services, per_namespace, seed });
        }
    }

    #[test]
    fn every_symptom_the_evaluation_writes_has_a_class() {
        let shape = MeshShape { services: 60, per_namespace: 6, seed: 5 };
        let mut yaml = generate(&shape);
        yaml.push_str(&authorization_policies(&shape));
        let a = Analysis::new(&[Source::new("mesh", yaml)], &Options::default());
        let mut classes = BTreeSet::new();
        for_each_call(&a, &ReachFilter::default(), |c| {
            let class = c.symptom_class();
            assert_ne!(class, SymptomClass::Other, "{c:?}");
            assert_eq!(class == SymptomClass::Ok, c.outcome.ok(), "{c:?}");
            assert_eq!(c.failure.is_some(), c.symptom.is_some(), "a symptom always has its class: {c:?}");
            classes.insert(class);
        });
        assert!(classes.contains(&SymptomClass::NoFilterChain) && classes.contains(&SymptomClass::Rbac), "{classes:?}");
    }
}
