//! `plan`: an ordered migration to STRICT that breaks no call working today.
//!
//! The plan is computed in three parts (docs/plan.md has the contract):
//!
//! 1. **Search.** Start from the most that could change — every sidecar port that is not STRICT
//!    becomes STRICT, every DestinationRule `tls` block that sends plaintext (`DISABLE`, or a
//!    `tls` without `mode`, which is DISABLE) is unset so auto mTLS decides — and check that state
//!    against today's, call by call, with reach's client classes (linear in the mesh). Each call
//!    that breaks or loses encryption withdraws what broke it: the port it lands on, the
//!    DestinationRule block its client used, or the namespace-wide mode change behind its client's
//!    auto mTLS. Repeat until nothing breaks. What was withdrawn is reported with its reason.
//! 2. **Realise** the target with the coarsest policies: mesh-wide STRICT in the root namespace
//!    when most namespaces can be STRICT, namespace-wide STRICT when most of a namespace's
//!    workloads can, workload-level (and port-level) PeerAuthentications for the rest and to keep
//!    today's mode where a coarser change would otherwise reach a port that must keep it.
//! 3. **Order and prove.** The changed resources are grouped into steps that are each safe on
//!    their own (DestinationRules first, then workload pins and workload STRICT, namespaces, the
//!    mesh), and every step carries the comparison of the mesh before and after it: no call
//!    breaks, none loses encryption.
//!
//! A step restates each resource it changes under its own kind, namespace and name, so the
//! input followed by steps 1..k, read as one stream, is the state after step k (a later
//! definition replaces an earlier one: [`crate::parse`]).

mod realise;
mod restate;
mod search;
mod steps;

use crate::analysis::{Analysis, UnusableInput};
use crate::model::{Labels, Mode, PeerAuthentication, ResourceId, TlsMode, selects};
use crate::provenance::{TlsBlock, TlsOrigin};
use crate::report::{Call, CallChange};
use crate::source::Source;
use crate::version::IstioVersion;
use restate::Originals;
use serde::Serialize;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use steps::replay;

/// What the plan aims for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Goal {
    /// As much of the mesh STRICT as breaks no call that works today.
    #[default]
    Strict,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    pub goal: Goal,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("the input cannot be planned as written: {0}")]
    Unusable(#[from] UnusableInput),
    #[error(
        "Istio {0} reads only the v1alpha1 MeshPolicy/Policy and has auto mTLS off; meshlock plan writes \
         PeerAuthentication, which Istio reads from 1.5: plan with --istio-version 1.5 or later"
    )]
    BeforePeerAuthentication(IstioVersion),
    #[error(
        "the input holds v1alpha1 {policies}, which Istio {version} reads: a `meshlock convert` step comes first \
         (apply the PeerAuthentications it writes, delete the v1alpha1 policies), then plan on the result"
    )]
    ConvertFirst { version: IstioVersion, policies: String },
    /// A step the plan wrote did not read back as written (a bug: the step is not proven).
    #[error("step file `{file}` does not read back: {message}")]
    StepUnreadable { file: String, message: String },
    /// Two states the plan compares differ in more than policies (a bug: not proven).
    #[error("the states before and after `{0}` cannot be compared call by call")]
    Unaligned(String),
    /// A step breaks a call even merged with its neighbours (a bug: the search proved the whole).
    #[error("step `{0}` breaks a call or loses encryption; no plan is given")]
    Unproven(String),
}

/// STRICT coverage: sidecar workloads (gateways excluded) and their known ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    pub sidecar_workloads: u64,
    /// Workloads whose every known port, and whose workload-level mode, is STRICT.
    pub strict_workloads: u64,
    pub sidecar_ports: u64,
    pub strict_ports: u64,
}

/// The STRICT coverage of a state: what a plan claims for its final state, and what a test
/// recomputes from the input and the steps.
pub fn coverage(a: &Analysis) -> Coverage {
    let gateways = gateway_workloads(a);
    let mut c = Coverage::default();
    for (i, w) in a.workloads.iter().enumerate() {
        if !w.sidecar || gateways.contains(&i) {
            continue;
        }
        c.sidecar_workloads += 1;
        let strict_ports = w.server.ports.iter().filter(|&&p| w.server.mode_for_port(p) == Mode::Strict).count();
        c.sidecar_ports += w.server.ports.len() as u64;
        c.strict_ports += strict_ports as u64;
        if w.server.mode == Mode::Strict && strict_ports == w.server.ports.len() {
            c.strict_workloads += 1;
        }
    }
    c
}

/// The STRICT (workload, port) pairs of a state, `namespace/name:port` (`:*` for a workload with
/// no known port whose workload-level mode is STRICT).
pub fn strict_ports(a: &Analysis) -> BTreeSet<String> {
    let gateways = gateway_workloads(a);
    let mut out = BTreeSet::new();
    for (i, w) in a.workloads.iter().enumerate() {
        if !w.sidecar || gateways.contains(&i) {
            continue;
        }
        if w.server.ports.is_empty() && w.server.mode == Mode::Strict {
            out.insert(format!("{}:*", w.key()));
        }
        for &p in &w.server.ports {
            if w.server.mode_for_port(p) == Mode::Strict {
                out.insert(format!("{}:{p}", w.key()));
            }
        }
    }
    out
}

/// The plan: steps, what each proves, and what cannot become STRICT and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub istio_version: IstioVersion,
    pub goal: &'static str,
    pub coverage: CoverageChange,
    pub steps: Vec<Step>,
    /// Sidecar workloads with ports that stay below STRICT, and why.
    pub blocked: Vec<Blocked>,
    pub notes: Vec<String>,
    pub cost: PlanCost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct CoverageChange {
    pub before: Coverage,
    /// After the last step.
    pub after: Coverage,
}

/// What the plan's checks cost, counted: each check compares every call of the mesh once,
/// per client class (docs/reach.md), so the work is classes × endpoint ports, not clients ×
/// services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PlanCost {
    /// Rounds of the search (each: realise, replay, compare).
    pub search_rounds: u64,
    /// Whole-mesh comparisons made (search rounds and step proofs).
    pub checks: u64,
    /// Class calls evaluated in both states, over all checks.
    pub class_evaluations: u64,
    /// Calls those evaluations stand for.
    pub calls_compared: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub number: usize,
    /// `NN-what.yaml`.
    pub file: String,
    pub title: String,
    /// `destination-rules`, `workload-pins`, `workloads`, `namespaces`, `mesh`, or several joined
    /// by `+` when steps had to be merged to stay safe.
    pub level: String,
    pub resources: Vec<StepResource>,
    /// `namespace/name` with the ports that become STRICT in this step.
    pub becomes_strict: Vec<StrictGain>,
    /// `kubectl delete` lines (the plan restates and never needs one today; kept empty).
    pub deletes: Vec<String>,
    /// The step file: every changed resource, restated in full.
    pub yaml: String,
    pub proof: Proof,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StepResource {
    /// `Kind namespace/name`.
    pub resource: String,
    /// `create` or `update`.
    #[cfg_attr(feature = "ts", ts(type = r#""create" | "update""#))]
    pub action: &'static str,
    pub change: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StrictGain {
    pub workload: String,
    /// Known ports that become STRICT (empty: the workload has no known port; its workload-level
    /// mode does).
    pub ports: Vec<u16>,
}

/// The comparison of the mesh before and after a step: every call, by client class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Proof {
    pub calls: u64,
    pub breaks: u64,
    pub decrypts: u64,
    pub encrypts: u64,
    pub fixes: u64,
    /// Other changes (client TLS or server mode, same outcome and encryption).
    pub changes: u64,
    /// Class calls evaluated in both states.
    pub class_evaluations: u64,
    /// The changed calls, one per client class, up to [`PROOF_EXAMPLES`] (`change` as `diff`
    /// names it).
    pub examples: Vec<CallChange>,
}

impl Proof {
    /// Whether the step breaks nothing and loses no encryption.
    pub fn holds(&self) -> bool {
        self.breaks == 0 && self.decrypts == 0
    }
}

/// Changed calls listed per step.
pub const PROOF_EXAMPLES: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    pub workload: String,
    /// Known ports that stay below STRICT (empty: the workload-level mode only).
    pub ports: Vec<u16>,
    pub reasons: Vec<BlockReason>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum BlockKind {
    /// Callers without a sidecar send plaintext.
    ClientsWithoutSidecar,
    /// A sidecar caller's DestinationRule sends plaintext and cannot be changed safely.
    DestinationRule,
    /// A gateway: its listeners take TLS from Gateway servers, not PeerAuthentication.
    Gateway,
    /// A workload of the root namespace: only the mesh-wide policy reaches it.
    RootNamespace,
    /// Shares its PeerAuthentication with a workload that cannot be STRICT.
    SharedPolicy,
    /// No label selector picks it out for a workload-level policy.
    NoSelector,
    /// Anything else that breaks a call (authorization, secure naming, auto mTLS).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct BlockReason {
    pub kind: BlockKind,
    pub detail: String,
    /// Calling workloads behind the reason (0 when no call is involved).
    pub callers: u64,
    /// A few of them, `namespace/name`.
    pub examples: Vec<String>,
    /// What would unblock it.
    pub unblock: String,
}

/// Computes the plan for the analysed input. `sources` are the texts `a` was read from: changed
/// resources are restated from them.
pub fn plan(a: &Analysis, sources: &[Source], options: &PlanOptions) -> Result<Plan, PlanError> {
    let Goal::Strict = options.goal;
    a.usable()?;
    if !a.version.reads_peer_authentication() {
        return Err(PlanError::BeforePeerAuthentication(a.version));
    }
    if a.read_alpha && !a.resources.alpha_policies.is_empty() {
        let names: Vec<String> = a.resources.alpha_policies.iter().map(|p| p.meta.id.to_string()).collect();
        let policies = crate::report::list_some(&names, 3);
        return Err(PlanError::ConvertFirst { version: a.version, policies });
    }
    let mut planner = Planner::new(a, sources);
    planner.search()?;
    planner.finish()
}

// ---------------------------------------------------------------------------------------------
// Shared by plan/search.rs, plan/realise.rs and plan/steps.rs
// ---------------------------------------------------------------------------------------------

/// A DestinationRule `tls` block to unset.
type Fix = TlsOrigin;

/// One reason recorded against a workload port.
#[derive(Debug, Clone)]
struct Reason {
    kind: BlockKind,
    detail: String,
    callers: u64,
    examples: Vec<String>,
    unblock: String,
}

/// The stage a changed resource is applied in (the order of the steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Stage {
    DestinationRules,
    WorkloadPins,
    Workloads,
    Namespaces,
    Mesh,
    WorkloadsAfter,
}

impl Stage {
    fn slug(self) -> &'static str {
        match self {
            Self::DestinationRules => "destination-rules",
            Self::WorkloadPins => "workload-pins",
            Self::Workloads | Self::WorkloadsAfter => "workloads",
            Self::Namespaces => "namespaces",
            Self::Mesh => "mesh",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Self::DestinationRules => {
                "DestinationRules that send plaintext toward STRICT servers, or servers about to be, leave TLS to auto mTLS"
            }
            Self::WorkloadPins => {
                "workload PeerAuthentications that write down today's modes before their namespace leaves DISABLE"
            }
            Self::Workloads => "workload-level STRICT, and workload policies that keep today's mode where it must stay",
            Self::Namespaces => "namespace-wide STRICT, and namespace policies that keep today's mode",
            Self::Mesh => "mesh-wide STRICT in the root namespace",
            Self::WorkloadsAfter => "workload-level STRICT in namespaces that have just left DISABLE",
        }
    }
}

/// A resource as a step writes it: id, created (not restated), summary, document.
type Staged = (ResourceId, bool, String, Value);

/// Stages applied together as one step, with their resources.
type StageGroup = (Vec<Stage>, Vec<Staged>);

/// One resource the plan writes.
#[derive(Debug, Clone)]
struct Change {
    id: ResourceId,
    stage: Stage,
    create: bool,
    summary: String,
    doc: Value,
    /// For [`Stage::WorkloadPins`] changes: the final form, applied in [`Stage::WorkloadsAfter`].
    then: Option<(String, Value)>,
}

struct Planner<'a> {
    a: &'a Analysis,
    originals: Originals<'a>,
    root: &'a str,
    gateways: BTreeSet<usize>,
    /// Ports to turn STRICT: (workload index, port).
    strict: BTreeSet<(usize, u16)>,
    fixes: BTreeSet<Fix>,
    frozen_namespaces: BTreeSet<String>,
    mesh_frozen: bool,
    reasons: BTreeMap<(usize, u16), Vec<Reason>>,
    /// Workloads with no known port whose workload-level mode is kept (a realisation limit).
    kept_default: BTreeSet<usize>,
    fix_notes: Vec<String>,
    cost: PlanCost,
    changes: Vec<Change>,
}

/// What one comparison found.
#[derive(Default)]
struct Comparison {
    bad: Vec<Bad>,
    proof_counts: (u64, u64, u64, u64, u64, u64),
    examples: Vec<CallChange>,
    /// Fixes some encrypted or fixed call toward a STRICT port went through.
    used_fixes: BTreeSet<Fix>,
    evaluations: u64,
    calls: u64,
}

/// A call that breaks or loses encryption, with what the search needs to withdraw its cause.
struct Bad {
    size: u64,
    client: usize,
    endpoint: usize,
    target: u16,
    service_namespace: String,
    before_origin: Option<TlsOrigin>,
    before: Call,
    after: Call,
}

impl<'a> Planner<'a> {
    fn new(a: &'a Analysis, sources: &'a [Source]) -> Self {
        let gateways = gateway_workloads(a);
        // Gateways are searched like any sidecar: PeerAuthentication does not reach their
        // listeners in Istio, so whatever the plan does to them changes nothing there, and the
        // model (which treats them as sidecars) only makes the plan more careful. They are
        // neither counted nor reported as STRICT.
        let mut strict = BTreeSet::new();
        for (i, w) in a.workloads.iter().enumerate() {
            if !w.sidecar {
                continue;
            }
            for &p in &w.server.ports {
                if w.server.mode_for_port(p) != Mode::Strict {
                    strict.insert((i, p));
                }
            }
        }
        let mut fixes = BTreeSet::new();
        for dr in &a.resources.destination_rules {
            let plain = |t: &Option<crate::model::ClientTls>| t.as_ref().is_some_and(|t| t.mode == TlsMode::Disable);
            let mut add = |block: TlsBlock| {
                fixes.insert(Fix { rule: dr.meta.id.clone(), block });
            };
            if let Some(tp) = &dr.traffic_policy {
                if plain(&tp.tls) {
                    add(TlsBlock::Top);
                }
                for pl in tp.port_level.iter().filter(|pl| plain(&pl.tls)) {
                    add(TlsBlock::Port(pl.port));
                }
            }
            for s in &dr.subsets {
                if let Some(tp) = &s.traffic_policy {
                    if plain(&tp.tls) {
                        add(TlsBlock::Subset(s.name.clone()));
                    }
                    for pl in tp.port_level.iter().filter(|pl| plain(&pl.tls)) {
                        add(TlsBlock::SubsetPort(s.name.clone(), pl.port));
                    }
                }
            }
        }
        Self {
            a,
            originals: Originals::new(sources),
            root: a.mesh.root_namespace.as_str(),
            gateways,
            strict,
            fixes,
            frozen_namespaces: BTreeSet::new(),
            mesh_frozen: false,
            reasons: BTreeMap::new(),
            kept_default: BTreeSet::new(),
            fix_notes: Vec::new(),
            cost: PlanCost::default(),
            changes: Vec::new(),
        }
    }

    fn reason(&mut self, key: (usize, u16), r: Reason) {
        let list = self.reasons.entry(key).or_default();
        match list.iter_mut().find(|x| x.kind == r.kind && x.detail == r.detail) {
            Some(x) => {
                x.callers += r.callers;
                for e in r.examples {
                    if x.examples.len() < 3 && !x.examples.contains(&e) {
                        x.examples.push(e);
                    }
                }
            }
            None => list.push(r),
        }
    }

    /// Withdraws every STRICT target of workload `wi` with a reason.
    fn withdraw_workload(&mut self, wi: usize, r: &Reason) -> bool {
        let ports: Vec<(usize, u16)> = self.strict.range((wi, 0)..=(wi, u16::MAX)).copied().collect();
        for k in &ports {
            self.strict.remove(k);
            self.reason(*k, r.clone());
        }
        let had_default = self.kept_default.insert(wi);
        !ports.is_empty() || had_default
    }
}

/// Workloads a Gateway selects (a non-empty selector matching their pod labels): their
/// listeners take TLS from the Gateway's servers only (`pilot/pkg/networking/core/gateway.go`
/// builds it from `Gateway.servers[].tls`), so PeerAuthentication does not govern them.
fn gateway_workloads(a: &Analysis) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    for gw in &a.resources.gateways {
        if gw.selector.is_empty() {
            continue;
        }
        for (i, w) in a.workloads.iter().enumerate() {
            if selects(&gw.selector, w.labels()) {
                out.insert(i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
