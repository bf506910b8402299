//! Server side: the mutual-TLS mode of every workload port, with the precedence chain that
//! produced it.
//!
//! v1beta1 follows `pilot/pkg/security/authn/policy_applier.go :: ComposePeerAuthentication`:
//! workload PA > namespace PA > mesh PA > PERMISSIVE, UNSET inheriting from the level above,
//! one PA per level (the oldest: `model/authentication.go :: addPeerAuthentication` keeps the
//! oldest selector-less PA per namespace; `ComposePeerAuthentication` picks the oldest matching
//! workload PA), `portLevelMtls` only from the chosen workload PA, keyed by the container port.
//! v1alpha1 (1.4, and 1.5 for workloads no PeerAuthentication reaches) follows
//! `push_context.go@1.4.0 :: AuthenticationPolicyForWorkload`: service > namespace > mesh, the
//! first level found replaces everything above it, nothing found means DISABLE.

use crate::index::{Analysis, ServiceView};
pub use crate::index::{Api, PortPolicy, ServerPolicy};
use crate::model::*;
use crate::provenance::PolicyRef;
use crate::report::{ChainEntry, Effect, Level};
use std::collections::BTreeMap;

/// Resolves workloads of one analysis in turn. Workloads that the same PeerAuthentications
/// reach get the same policy: it is resolved once and its chains are shared (at 50,000
/// workloads the chains were a tenth of the analysis's memory).
pub struct Resolver<'a> {
    a: &'a Analysis,
    beta: std::collections::HashMap<BetaKey, ServerPolicy>,
}

/// The PeerAuthentications of each level of [`BetaCandidates`], by address: the same
/// candidates resolve to the same policy.
type BetaKey = [Vec<usize>; 4];

impl<'a> Resolver<'a> {
    pub fn new(a: &'a Analysis) -> Self {
        Self { a, beta: std::collections::HashMap::new() }
    }

    /// Resolves workload `wi` of the analysis.
    pub fn resolve(&mut self, wi: usize) -> ServerPolicy {
        let a = self.a;
        let Some(w) = a.workloads.get(wi) else {
            return ServerPolicy::default();
        };
        let mut ports: Vec<u16> = w.workload.ports.iter().map(|p| p.port).collect();
        for svc in a.services_of(wi) {
            for sp in &svc.ports {
                if let Some(tp) = target_port(sp, &w.workload) {
                    ports.push(tp);
                }
            }
        }
        let beta = if a.read_beta { Some(beta_candidates(a, &w.workload)) } else { None };
        let use_alpha = a.read_alpha && beta.as_ref().is_none_or(|b| !b.applies());
        let mut policy = if use_alpha {
            resolve_alpha(a, wi)
        } else {
            let c = beta.unwrap_or_default();
            let addresses =
                |list: &[&PeerAuthentication]| list.iter().map(|pa| std::ptr::from_ref(*pa).addr()).collect();
            let key =
                [addresses(&c.mesh), addresses(&c.namespace), addresses(&c.workload), addresses(&c.root_selector)];
            self.beta.entry(key).or_insert_with(|| resolve_beta(c)).clone()
        };
        for p in policy.per_port.keys() {
            ports.push(*p);
        }
        ports.sort_unstable();
        ports.dedup();
        policy.ports = ports;
        policy
    }
}

/// The workload (container) port a Service port lands on: a numeric targetPort, a named one
/// looked up in the pod's container ports, or the service port itself.
pub fn target_port(sp: &ServicePort, w: &Workload) -> Option<u16> {
    match &sp.target_port {
        None => Some(sp.port),
        Some(PortRef::Number(n)) => Some(*n),
        Some(PortRef::Name(name)) => {
            w.ports.iter().find(|cp| cp.name.as_deref() == Some(name.as_str())).map(|cp| cp.port)
        }
    }
}

#[derive(Debug, Default)]
struct BetaCandidates<'a> {
    mesh: Vec<&'a PeerAuthentication>,
    namespace: Vec<&'a PeerAuthentication>,
    workload: Vec<&'a PeerAuthentication>,
    root_selector: Vec<&'a PeerAuthentication>,
    root: String,
}

impl BetaCandidates<'_> {
    /// Whether any PeerAuthentication reaches the workload (Istio 1.5 then ignores v1alpha1).
    fn applies(&self) -> bool {
        !(self.mesh.is_empty() && self.namespace.is_empty() && self.workload.is_empty())
    }
}

fn beta_candidates<'a>(a: &'a Analysis, w: &Workload) -> BetaCandidates<'a> {
    let root = a.mesh.root_namespace.as_str();
    let ns = w.meta.namespace();
    let mut c = BetaCandidates { root: root.to_owned(), ..BetaCandidates::default() };
    let own = a.peer_authentications_in(ns);
    let rooted = a.peer_authentications_in(root).filter(|_| ns != root);
    for pa in own.chain(rooted) {
        let pns = pa.meta.namespace();
        match (pns == root, pa.has_selector()) {
            (true, false) => c.mesh.push(pa),
            (true, true) => {
                if pa.selector.as_ref().is_some_and(|s| s.matches(&w.pod_labels)) {
                    c.root_selector.push(pa);
                }
            }
            (false, false) => c.namespace.push(pa),
            (false, true) => {
                if pa.selector.as_ref().is_some_and(|s| s.matches(&w.pod_labels)) {
                    c.workload.push(pa);
                }
            }
        }
    }
    for v in [&mut c.mesh, &mut c.namespace, &mut c.workload] {
        v.sort_by(|x, y| x.meta.age_key().cmp(&y.meta.age_key()));
    }
    c
}

fn pa_name(pa: &PeerAuthentication) -> PolicyRef {
    PolicyRef::Resource(pa.meta.id.clone())
}

fn entry(
    level: Level,
    policy: PolicyRef,
    declared: String,
    effect: Effect,
    reason: Option<String>,
    at: Option<&crate::source::Location>,
) -> ChainEntry {
    ChainEntry { level, policy, declared, effect, reason, file: at.map(|l| l.file.clone()), line: at.map(|l| l.line) }
}

fn newer_reason(loser: &Meta, winner: &Meta, what: &str) -> String {
    let tie = if loser.created.is_none() && winner.created.is_none() {
        " (neither has a creationTimestamp in the input, so the name decides, as Istio's tie-break does)"
    } else if loser.created == winner.created {
        " (same creationTimestamp: the name decides)"
    } else {
        ""
    };
    format!(
        "newer than {} {}/{}: Istio uses only the oldest {what}{tie}",
        winner.id.kind,
        winner.namespace(),
        winner.name(),
    )
}

/// Marks the most specific non-UNSET layer `applied`, the other deciding layers `overridden`.
fn settle(chain: &mut [ChainEntry]) {
    let deciding = |e: &ChainEntry| e.effect != Effect::Ignored && e.effect != Effect::Inherited;
    let applied = chain.iter().rposition(deciding);
    for (i, e) in chain.iter_mut().enumerate() {
        if deciding(e) {
            e.effect = if Some(i) == applied { Effect::Applied } else { Effect::Overridden };
        }
    }
}

fn resolve_beta(c: BetaCandidates<'_>) -> ServerPolicy {
    let mut chain = vec![entry(
        Level::Default,
        PolicyRef::BuiltIn,
        "PERMISSIVE".to_owned(),
        Effect::Overridden,
        Some("Istio's default when no policy sets a mode".to_owned()),
        None,
    )];
    let mut mode = Mode::Permissive;
    let mut layer = |level: Level, list: &[&PeerAuthentication], what: &str, chain: &mut Vec<ChainEntry>| {
        let Some((winner, losers)) = list.split_first() else {
            return;
        };
        let declared = winner.mode;
        let effect = if declared == DeclaredMode::Unset { Effect::Inherited } else { Effect::Overridden };
        let reason = (declared == DeclaredMode::Unset).then(|| "UNSET: the mode above passes through".to_owned());
        chain.push(entry(level, pa_name(winner), declared.to_string(), effect, reason, Some(&winner.meta.at)));
        if let Some(m) = declared.resolved() {
            mode = m;
        }
        for l in losers {
            let reason = newer_reason(&l.meta, &winner.meta, what);
            chain.push(entry(level, pa_name(l), l.mode.to_string(), Effect::Ignored, Some(reason), Some(&l.meta.at)));
        }
    };
    layer(Level::Mesh, &c.mesh, "mesh-wide policy", &mut chain);
    layer(Level::Namespace, &c.namespace, "namespace-wide policy", &mut chain);
    layer(Level::Workload, &c.workload, "workload policy that selects a workload", &mut chain);
    for pa in &c.root_selector {
        let reason = format!(
            "a PeerAuthentication with a selector in the root namespace `{}` is ignored for sidecars \
             (policy_applier_test.go: \"ignore non-emptypb selector in root namespace\")",
            c.root
        );
        chain.push(entry(
            Level::Workload,
            pa_name(pa),
            pa.mode.to_string(),
            Effect::Ignored,
            Some(reason),
            Some(&pa.meta.at),
        ));
    }
    settle(&mut chain);
    let mut per_port = BTreeMap::new();
    if let Some(winner) = c.workload.first() {
        for (&port, pm) in &winner.port_level {
            let Ok(port16) = u16::try_from(port) else {
                continue;
            };
            let mut pchain = Vec::with_capacity(chain.len() + 1);
            pchain.extend(chain.iter().cloned());
            let (pmode, effect, reason) = match pm.mode.resolved() {
                Some(m) => (m, Effect::Overridden, None),
                None => (mode, Effect::Inherited, Some("UNSET: the workload's mode passes through".to_owned())),
            };
            pchain.push(entry(
                Level::Port,
                PolicyRef::PortLevel(winner.meta.id.clone(), port),
                pm.mode.to_string(),
                effect,
                reason,
                Some(&pm.at),
            ));
            settle(&mut pchain);
            per_port.insert(port16, PortPolicy { mode: pmode, chain: pchain.into() });
        }
    }
    ServerPolicy { api: Api::PeerAuthentication, mode, chain: chain.into(), per_port, ports: Vec::new() }
}

/// A MeshPolicy is cluster-scoped and named without a namespace whatever its input says.
fn alpha_name(p: &AlphaPolicy) -> PolicyRef {
    let (kind, namespace) = if p.mesh { ("MeshPolicy", "") } else { ("Policy", p.meta.namespace()) };
    PolicyRef::Resource(ResourceId {
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: p.meta.name().to_owned(),
    })
}

/// Whether Istio's validation would accept the policy at all (`ValidateAuthenticationPolicy@1.4`),
/// and so whether pilot ever sees it.
pub fn alpha_usable(p: &AlphaPolicy) -> bool {
    if p.mesh {
        return p.meta.name() == "default" && p.targets.is_empty();
    }
    if p.targets.is_empty() {
        return p.meta.name() == "default";
    }
    p.meta.name() != "default"
}

/// The mode a v1alpha1 world gives a port that no policy of either API reaches. In 1.4 the
/// v1alpha1 applier builds no TLS context at all (DISABLE). Istio 1.5 composes both APIs in its
/// v1beta1 applier, which falls back to the v1alpha1 policy only when one exists and otherwise
/// behaves as PERMISSIVE (`security/authn/v1beta1/policy_applier_test.go@1.5 ::
/// TestOnInboundFilterChain`, "No policy - behave as permissive").
fn alpha_default(version: crate::version::IstioVersion) -> (Mode, String) {
    if version.reads_peer_authentication() {
        (
            Mode::Permissive,
            format!(
                "Istio {version}: neither a PeerAuthentication nor a v1alpha1 policy reaches this port, so the \
                 v1beta1 applier behaves as PERMISSIVE (1.4 would have left it DISABLE)"
            ),
        )
    } else {
        (Mode::Disable, "v1alpha1 (Istio 1.4): no policy at all means DISABLE".to_owned())
    }
}

/// The v1alpha1 chain for a namespace and, when given, a service port.
pub fn alpha_chain(a: &Analysis, ns: &str, svc: Option<(&ServiceView, &ServicePort)>) -> (Mode, Vec<ChainEntry>) {
    let (mut mode, default_reason) = alpha_default(a.version);
    let mut chain = vec![entry(
        Level::Default,
        PolicyRef::BuiltIn,
        mode.to_string(),
        Effect::Overridden,
        Some(default_reason),
        None,
    )];
    let mut sorted: Vec<&AlphaPolicy> = a.resources.alpha_policies.iter().filter(|p| alpha_usable(p)).collect();
    sorted.sort_by(|x, y| x.meta.age_key().cmp(&y.meta.age_key()));
    if let Some(mp) = sorted.iter().find(|p| p.mesh) {
        chain.push(entry(
            Level::Mesh,
            alpha_name(mp),
            mp.peer.mode().to_string(),
            Effect::Overridden,
            None,
            Some(&mp.meta.at),
        ));
        mode = mp.peer.mode();
    }
    if let Some(np) = sorted.iter().find(|p| !p.mesh && p.targets.is_empty() && p.meta.namespace() == ns) {
        chain.push(entry(
            Level::Namespace,
            alpha_name(np),
            np.peer.mode().to_string(),
            Effect::Overridden,
            Some("v1alpha1: replaces the mesh policy entirely".to_owned()),
            Some(&np.meta.at),
        ));
        mode = np.peer.mode();
    }
    if let Some((svc, sp)) = svc {
        // Targets resolve against the policy's namespace (`ResolveShortnameToFQDN(target, policyMeta)`),
        // and must be short names (`validateAuthNPolicyTarget`: a DNS-1123 label).
        let mut winner: Option<&AlphaPolicy> = None;
        for p in sorted.iter().filter(|p| !p.mesh && p.meta.namespace() == svc.namespace) {
            for t in p.targets.iter().filter(|t| t.name == svc.name && !t.name.contains('.')) {
                // `Port.Match(nil)` is true: the first policy with no port selector or a
                // matching port wins, so an older service-wide policy beats a newer port one.
                let port_ok = t.ports.is_empty()
                    || t.ports.iter().any(|pr| match pr {
                        PortRef::Number(n) => *n == sp.port,
                        PortRef::Name(n) => sp.name.as_deref() == Some(n.as_str()),
                    });
                if !port_ok {
                    continue;
                }
                match winner {
                    None => {
                        winner = Some(p);
                        let reason = Some(format!(
                            "v1alpha1: targets service {} port {}; replaces broader policies entirely",
                            svc.name, sp.port
                        ));
                        chain.push(entry(
                            Level::Service,
                            alpha_name(p),
                            p.peer.mode().to_string(),
                            Effect::Overridden,
                            reason,
                            Some(&p.meta.at),
                        ));
                        mode = p.peer.mode();
                    }
                    Some(w) if !std::ptr::eq(w, *p) => {
                        let reason = format!(
                            "an older policy for this service and port, {}, matched first: Istio walks them oldest first \
                             (its docs said \"selects one at random\")",
                            alpha_name(w)
                        );
                        chain.push(entry(
                            Level::Service,
                            alpha_name(p),
                            p.peer.mode().to_string(),
                            Effect::Ignored,
                            Some(reason),
                            Some(&p.meta.at),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    settle(&mut chain);
    (mode, chain)
}

fn resolve_alpha(a: &Analysis, wi: usize) -> ServerPolicy {
    let Some(w) = a.workloads.get(wi) else {
        return ServerPolicy::default();
    };
    let (mode, chain) = alpha_chain(a, w.namespace(), None);
    let mut per_port = BTreeMap::new();
    // Applied per service instance and service port: a pod behind two services can get
    // different modes on different inbound ports.
    for svc in a.services_of(wi) {
        for sp in &svc.ports {
            let Some(tp) = target_port(sp, &w.workload) else {
                continue;
            };
            if per_port.contains_key(&tp) {
                continue;
            }
            let (m, c) = alpha_chain(a, w.namespace(), Some((svc, sp)));
            per_port.insert(tp, PortPolicy { mode: m, chain: c.into() });
        }
    }
    ServerPolicy { api: Api::Alpha, mode, chain: chain.into(), per_port, ports: Vec::new() }
}
