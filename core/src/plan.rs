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

mod restate;

use crate::analysis::{Analysis, UnusableInput};
use crate::client::{TlsBlock, TlsOrigin, rule_tls};
use crate::model::{DeclaredMode, Labels, Mode, PeerAuthentication, ResourceId, TlsMode, selects};
use crate::reach::{PairedCall, ReachFilter, for_each_class_pair};
use crate::report::{Call, CallChange, CallOutcome, ClientTlsKind};
use crate::source::Source;
use crate::version::IstioVersion;
use restate::Originals;
use serde::Serialize;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
#[serde(rename_all = "camelCase")]
pub struct StepResource {
    /// `Kind namespace/name`.
    pub resource: String,
    /// `create` or `update`.
    pub action: &'static str,
    pub change: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StrictGain {
    pub workload: String,
    /// Known ports that become STRICT (empty: the workload has no known port; its workload-level
    /// mode does).
    pub ports: Vec<u16>,
}

/// The comparison of the mesh before and after a step: every call, by client class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    pub workload: String,
    /// Known ports that stay below STRICT (empty: the workload-level mode only).
    pub ports: Vec<u16>,
    pub reasons: Vec<BlockReason>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
        let mut names: Vec<String> = a.resources.alpha_policies.iter().map(|p| p.meta.id.to_string()).collect();
        names.truncate(3);
        let more = a.resources.alpha_policies.len().saturating_sub(names.len());
        let mut policies = names.join(", ");
        if more > 0 {
            policies.push_str(&format!(" and {more} more"));
        }
        return Err(PlanError::ConvertFirst { version: a.version, policies });
    }
    let mut planner = Planner::new(a, sources);
    planner.search()?;
    planner.finish()
}

// ---------------------------------------------------------------------------------------------
// The search
// ---------------------------------------------------------------------------------------------

/// A DestinationRule `tls` block to unset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Fix {
    rule: ResourceId,
    block: TlsBlock,
}

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
    /// `DestinationRule ns/name` (as [`TlsOrigin::rule`] names it) → its id.
    rule_ids: HashMap<String, ResourceId>,
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
            rule_ids: a
                .resources
                .destination_rules
                .iter()
                .map(|d| (d.meta.id.to_string(), d.meta.id.clone()))
                .collect(),
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

    fn search(&mut self) -> Result<(), PlanError> {
        loop {
            self.cost.search_rounds += 1;
            let after = self.realise_and_replay()?;
            let cmp = self.compare(self.a, &after, "the plan's final state")?;
            if cmp.bad.is_empty() {
                // Keep only the DestinationRule changes some call toward a STRICT port needs.
                let unused: Vec<Fix> = self.fixes.difference(&cmp.used_fixes).cloned().collect();
                if unused.is_empty() {
                    return Ok(());
                }
                for f in unused {
                    self.fixes.remove(&f);
                }
                continue;
            }
            let mut progress = false;
            for bad in cmp.bad {
                progress |= self.withdraw(&bad);
            }
            if !progress {
                // Nothing identifiable: fall back to changing nothing (always safe).
                self.strict.clear();
                self.fixes.clear();
                self.mesh_frozen = true;
                self.frozen_namespaces.extend(self.a.workloads.iter().map(|w| w.namespace().to_owned()));
                self.fix_notes.push(
                    "a breaking change could not be traced to one policy; the plan keeps every policy as it is"
                        .to_owned(),
                );
            }
        }
    }

    /// Withdraws what made `bad` break or lose encryption; whether anything was withdrawn.
    fn withdraw(&mut self, bad: &Bad) -> bool {
        let a = self.a;
        let key = (bad.endpoint, bad.target);
        let client = a.workloads.get(bad.client);
        let client_key = client.map(|c| c.key()).unwrap_or_default();
        let what = if bad.before.ok && !bad.after.ok { "breaks" } else { "loses encryption" };
        let symptom = bad.after.symptom.clone().unwrap_or_else(|| "plaintext instead of mTLS".to_owned());
        if self.strict.contains(&key) {
            self.strict.remove(&key);
            let endpoint = a.workloads.get(bad.endpoint).map(|w| w.key()).unwrap_or_default();
            let r = if !bad.after.from_sidecar {
                Reason {
                    kind: BlockKind::ClientsWithoutSidecar,
                    detail: format!(
                        "callers without a sidecar send plaintext to port {}: under STRICT they get {symptom}",
                        bad.target
                    ),
                    callers: bad.size,
                    examples: vec![client_key],
                    unblock: format!(
                        "inject a sidecar into these callers (label their namespace istio-injection=enabled and restart \
                         them), then run `meshlock plan` again: a workload-level STRICT PeerAuthentication for {endpoint} \
                         becomes a step"
                    ),
                }
            } else if bad.after.client_tls == ClientTlsKind::Disable
                && bad.before_origin.is_some()
                && !bad.after.client_tls_source.contains("leaves tls unset")
            {
                let source = bad.after.client_tls_source.clone();
                Reason {
                    kind: BlockKind::DestinationRule,
                    detail: format!("sidecar callers send plaintext by {source}"),
                    callers: bad.size,
                    examples: vec![client_key],
                    unblock: format!(
                        "make {source} leave TLS to auto mTLS (or ISTIO_MUTUAL) without breaking its other calls; \
                         then `meshlock plan` makes {endpoint} STRICT"
                    ),
                }
            } else {
                Reason {
                    kind: BlockKind::Other,
                    detail: format!(
                        "the call from {client_key} {what} under STRICT: {} ({symptom})",
                        bad.after.client_tls_source
                    ),
                    callers: bad.size,
                    examples: vec![client_key],
                    unblock: "change what makes this caller send plaintext, then run `meshlock plan` again".to_owned(),
                }
            };
            self.reason(key, r);
            if a.workloads.get(bad.endpoint).is_some_and(|w| w.namespace() == self.root) {
                self.mesh_frozen = true;
            }
            return true;
        }
        if let Some(origin) = &bad.before_origin {
            let fix =
                self.rule_ids.get(&origin.rule).map(|rule| Fix { rule: rule.clone(), block: origin.block.clone() });
            if let Some(fix) = fix.filter(|f| self.fixes.contains(f)) {
                self.fixes.remove(&fix);
                self.fix_notes.push(format!(
                    "{} {} stays as it is: unset, the call from {client_key} to {} {what} ({symptom})",
                    fix.rule, fix.block, bad.after.to
                ));
                return true;
            }
        }
        // The client's auto mTLS changed with the service namespace's mode: keep that mode.
        let ns = bad.service_namespace.clone();
        if ns == self.root || !self.frozen_namespaces.contains(&ns) {
            let changed = if ns == self.root {
                !std::mem::replace(&mut self.mesh_frozen, true)
            } else {
                self.frozen_namespaces.insert(ns)
            };
            if changed {
                return true;
            }
        }
        if !self.mesh_frozen {
            self.mesh_frozen = true;
            return true;
        }
        let r = Reason {
            kind: BlockKind::Other,
            detail: format!("the call from {client_key} to {} {what} ({symptom})", bad.after.to),
            callers: bad.size,
            examples: vec![client_key],
            unblock: "fix that call first, then run `meshlock plan` again".to_owned(),
        };
        self.withdraw_workload(bad.endpoint, &r)
    }

    /// Compares `before` and `after` call by call.
    fn compare(&mut self, before: &Analysis, after: &Analysis, what: &str) -> Result<Comparison, PlanError> {
        let mut cmp = Comparison::default();
        let mut examples_full = false;
        let rule_ids = &self.rule_ids;
        let strict_after = |w: usize, port: u16| {
            after.workloads.get(w).is_some_and(|w| w.sidecar && w.server.mode_for_port(port) == Mode::Strict)
        };
        let calls = for_each_class_pair(before, after, &ReachFilter::default(), |pc: PairedCall<'_>| {
            cmp.evaluations += 1;
            let (b, c) = (&pc.before.call, &pc.after.call);
            let Some(change) = crate::diff::change_kind(b, c) else { return };
            let counts = &mut cmp.proof_counts;
            match change {
                "breaks" => counts.0 += pc.size,
                "decrypts" => counts.1 += pc.size,
                "encrypts" => counts.2 += pc.size,
                "fixes" => counts.3 += pc.size,
                _ => counts.4 += pc.size,
            }
            if !examples_full {
                cmp.examples.push(CallChange {
                    from: b.from.clone(),
                    to: b.to.clone(),
                    to_workload: b.to_workload.clone(),
                    subset: b.subset.clone(),
                    before: Some(CallOutcome::from(b)),
                    after: Some(CallOutcome::from(c)),
                    change: change.to_owned(),
                });
                examples_full = cmp.examples.len() >= PROOF_EXAMPLES * 4;
            }
            let origin = || {
                let client = before.workloads.get(pc.client)?;
                let svc = before.services.get(pc.service)?;
                if !client.sidecar {
                    return None;
                }
                let rule =
                    before.destination_rules.lookup(client.namespace(), client.labels(), &svc.host, &svc.namespace)?;
                rule_tls(rule, pc.port.port, pc.subset).origin
            };
            match change {
                "breaks" | "decrypts" => cmp.bad.push(Bad {
                    size: pc.size,
                    client: pc.client,
                    endpoint: pc.endpoint,
                    target: c.target_port,
                    service_namespace: before.services.get(pc.service).map(|s| s.namespace.clone()).unwrap_or_default(),
                    before_origin: origin(),
                    before: b.clone(),
                    after: c.clone(),
                }),
                "encrypts" | "fixes" if c.mtls && strict_after(pc.endpoint, c.target_port) => {
                    if let Some(o) = origin()
                        && let Some(rule) = rule_ids.get(&o.rule)
                    {
                        cmp.used_fixes.insert(Fix { rule: rule.clone(), block: o.block });
                    }
                }
                _ => {}
            }
        })
        .map_err(|_| PlanError::Unaligned(what.to_owned()))?;
        cmp.calls = calls;
        self.cost.checks += 1;
        self.cost.class_evaluations += cmp.evaluations;
        self.cost.calls_compared += calls;
        // Changed calls in diff's order: what breaks first, then what loses encryption.
        let rank = |c: &CallChange| match c.change.as_str() {
            "breaks" => 0,
            "decrypts" => 1,
            "fixes" => 2,
            "encrypts" => 3,
            _ => 4,
        };
        cmp.examples.sort_by(|x, y| (rank(x), &x.from, &x.to).cmp(&(rank(y), &y.from, &y.to)));
        cmp.examples.truncate(PROOF_EXAMPLES);
        Ok(cmp)
    }

    fn realise_and_replay(&mut self) -> Result<Analysis, PlanError> {
        loop {
            let before = (self.strict.len(), self.kept_default.len(), self.mesh_frozen, self.frozen_namespaces.len());
            self.realise();
            let after = (self.strict.len(), self.kept_default.len(), self.mesh_frozen, self.frozen_namespaces.len());
            if before == after {
                break;
            }
        }
        let docs: Vec<Value> =
            self.changes.iter().map(|c| c.then.as_ref().map_or(&c.doc, |(_, d)| d).clone()).collect();
        replay(self.a, "plan.yaml", &restate::stream(&docs))
    }

    // -----------------------------------------------------------------------------------------
    // Realisation: the coarsest policies that give every port its target mode
    // -----------------------------------------------------------------------------------------

    /// The mode each known port of a sidecar workload should end with, and its workload-level
    /// mode (unknown ports).
    fn desired(&self, wi: usize) -> Option<(BTreeMap<u16, Mode>, Mode)> {
        let w = self.a.workloads.get(wi)?;
        if !w.sidecar {
            return None;
        }
        let ports: BTreeMap<u16, Mode> = w
            .server
            .ports
            .iter()
            .map(|&p| {
                let now = w.server.mode_for_port(p);
                (p, if self.strict.contains(&(wi, p)) { Mode::Strict } else { now })
            })
            .collect();
        let candidate = !self.kept_default.contains(&wi);
        let all_strict = ports.values().all(|m| *m == Mode::Strict);
        let gains = self.strict.range((wi, 0)..=(wi, u16::MAX)).next().is_some();
        // The workload-level mode (ports nothing declares): STRICT when every known port is; the
        // mode most ports end with when some change (fewer port-level entries); else today's.
        let default = match (candidate, all_strict, gains) {
            (true, true, _) => Mode::Strict,
            (true, false, true) => majority(&ports, w.server.mode),
            _ => w.server.mode,
        };
        Some((ports, default))
    }

    fn full_strict(&self, wi: usize) -> bool {
        self.desired(wi)
            .is_some_and(|(ports, default)| default == Mode::Strict && ports.values().all(|m| *m == Mode::Strict))
    }

    /// Writes `self.changes` for the current targets; may withdraw targets it cannot realise
    /// (the caller repeats until it is stable).
    fn realise(&mut self) {
        let a = self.a;
        self.changes.clear();
        let root = self.root.to_owned();
        // Root-namespace sidecars get the mesh-wide mode only (a selector PA there is ignored).
        let root_sidecars: Vec<usize> = a.workloads_in(&root).filter(|(_, w)| w.sidecar).map(|(i, _)| i).collect();
        if root_sidecars.iter().any(|&i| !self.full_strict(i)) {
            self.mesh_frozen = true;
        }
        if self.mesh_frozen {
            let blocker = root_sidecars.iter().find(|&&i| !self.full_strict(i)).and_then(|&i| a.workloads.get(i));
            let r = Reason {
                kind: BlockKind::RootNamespace,
                detail: match blocker {
                    Some(b) => format!(
                        "in the root namespace {root} only the mesh-wide policy applies, and {} must keep a port below STRICT",
                        b.key()
                    ),
                    None => format!("in the root namespace {root} only the mesh-wide policy applies, and it must stay"),
                },
                callers: 0,
                examples: Vec::new(),
                unblock: format!(
                    "run it outside {root} (a workload-level PeerAuthentication in the root namespace is ignored)"
                ),
            };
            for &i in &root_sidecars {
                self.withdraw_workload(i, &r);
            }
        }
        // Namespaces: STRICT when most of their sidecar workloads can be.
        let mut by_ns: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, w) in a.workloads.iter().enumerate() {
            if w.sidecar && w.namespace() != root {
                by_ns.entry(w.namespace()).or_default().push(i);
            }
        }
        let mut ns_target: BTreeMap<&str, Mode> = BTreeMap::new();
        let mut strict_namespaces = 0usize;
        for (ns, list) in &by_ns {
            let now = a.namespace_mode(ns).unwrap_or(Mode::Permissive);
            let full = list.iter().filter(|&&i| self.full_strict(i)).count();
            let wants_strict = list.iter().any(|&i| self.strict.range((i, 0)..=(i, u16::MAX)).next().is_some());
            let target = if self.frozen_namespaces.contains(*ns) {
                now
            } else if full > 0 && full * 2 >= list.len() {
                Mode::Strict
            } else if now == Mode::Disable && wants_strict {
                // Auto mTLS sends plaintext to every service of a DISABLE namespace
                // (`BestEffortInferServiceMTLSMode`): it must leave DISABLE for any port in it to
                // be STRICT.
                Mode::Permissive
            } else {
                now
            };
            if target == Mode::Strict {
                strict_namespaces += 1;
            }
            ns_target.insert(ns, target);
        }
        let mesh_now = a.mesh_mode;
        // The mesh goes STRICT when that takes no more policies than leaving it (the coarser wins
        // a tie): one mesh-wide policy plus a namespace policy wherever the inherited mode is not
        // the target, against a namespace policy wherever today's inherited mode is not.
        let writes = |mesh: Option<Mode>| {
            ns_target
                .iter()
                .filter(|(ns, target)| {
                    ns_winner(a, ns).and_then(|pa| pa.mode.resolved()).or(mesh).unwrap_or(Mode::Permissive) != **target
                })
                .count()
        };
        // (`1 + with <= without`, the mesh-wide policy itself counted.)
        let flip = !self.mesh_frozen && strict_namespaces > 0 && writes(Some(Mode::Strict)) < writes(mesh_now);
        let mesh_target = if flip { Some(Mode::Strict) } else { mesh_now };
        // The mesh-wide policy.
        if mesh_target != mesh_now
            && let Some(mode) = mesh_target
        {
            let ids = ns_winner(a, &root);
            self.push_pa_change(Stage::Mesh, &root, ids, None, mode, &BTreeMap::new(), "mesh-wide");
        }
        // Namespace policies: where the inherited mode would differ from the target.
        let mut ns_effective: BTreeMap<String, Mode> = BTreeMap::new();
        for (ns, target) in &ns_target {
            let winner = ns_winner(a, ns);
            let inherited = winner.and_then(|pa| pa.mode.resolved()).or(mesh_target).unwrap_or(Mode::Permissive);
            ns_effective.insert((*ns).to_owned(), *target);
            if inherited != *target {
                self.push_pa_change(Stage::Namespaces, ns, winner, None, *target, &BTreeMap::new(), "namespace-wide");
            }
        }
        // Workload policies: where the resulting modes would differ from the targets. Workloads
        // sharing their winning PeerAuthentication are realised together.
        let mut groups: BTreeMap<Option<ResourceId>, Vec<usize>> = BTreeMap::new();
        let mut unaddressed: Vec<usize> = Vec::new();
        for (ns, list) in &by_ns {
            for &wi in list {
                let Some(w) = a.workloads.get(wi) else { continue };
                let winner = workload_winner(a, wi);
                let inherited = ns_effective.get(*ns).copied().unwrap_or(Mode::Permissive);
                let Some((ports, default)) = self.desired(wi) else { continue };
                let (res_ports, res_default) = resulting(w.server.ports.as_slice(), winner, inherited);
                if res_ports == ports && res_default == default {
                    continue;
                }
                match winner {
                    Some(pa) => groups.entry(Some(pa.meta.id.clone())).or_default().push(wi),
                    None => unaddressed.push(wi),
                }
            }
        }
        let was_disable = |ns: &str| a.namespace_mode(ns) == Some(Mode::Disable);
        let leaves_disable = |ns: &str, eff: &BTreeMap<String, Mode>| {
            was_disable(ns) && eff.get(ns).is_some_and(|m| *m != Mode::Disable)
        };
        // Existing winners shared by several workloads: one target for all of them.
        for (id, members) in groups {
            let Some(id) = id else { continue };
            let Some(pa) = a.resources.peer_authentications.iter().find(|p| p.meta.id == id) else { continue };
            let sharing: Vec<usize> = a
                .workloads_in(pa.meta.namespace())
                .filter(|(i, _)| workload_winner(a, *i).is_some_and(|p| p.meta.id == id))
                .map(|(i, _)| i)
                .collect();
            let Some((ports, default)) = self.shared_target(&sharing) else { continue };
            let ns = pa.meta.namespace().to_owned();
            let stage = if leaves_disable(&ns, &ns_effective) { Stage::WorkloadPins } else { Stage::Workloads };
            let first = members.first().copied().unwrap_or_default();
            self.push_workload_change(stage, first, Some(pa), None, default, &ports, &sharing);
        }
        // Workloads without a workload policy: a new one, selecting them alone.
        let mut done: BTreeSet<usize> = BTreeSet::new();
        for wi in unaddressed {
            if done.contains(&wi) {
                continue;
            }
            let Some(w) = a.workloads.get(wi) else { continue };
            let Some((ports, default)) = self.desired(wi) else { continue };
            match self.selector_for(wi) {
                Some((labels, selected)) => {
                    done.extend(selected.iter().copied());
                    let stage = if leaves_disable(w.namespace(), &ns_effective) {
                        Stage::WorkloadPins
                    } else {
                        Stage::Workloads
                    };
                    let (ports, default) = self.shared_target(&selected).unwrap_or((ports, default));
                    self.push_workload_change(stage, wi, None, Some(&labels), default, &ports, &selected);
                }
                None => {
                    let r = Reason {
                        kind: BlockKind::NoSelector,
                        detail: format!(
                            "no label selector picks out {} alone from the workloads of {} that have a policy or a \
                             different target",
                            w.key(),
                            w.namespace()
                        ),
                        callers: 0,
                        examples: Vec::new(),
                        unblock: "give the workload a distinguishing label (e.g. `app`)".to_owned(),
                    };
                    self.withdraw_workload(wi, &r);
                    // Its namespace-wide mode must then stay as it is.
                    self.frozen_namespaces.insert(w.namespace().to_owned());
                }
            }
        }
        // DestinationRules.
        let mut by_rule: BTreeMap<ResourceId, Vec<TlsBlock>> = BTreeMap::new();
        for f in &self.fixes {
            by_rule.entry(f.rule.clone()).or_default().push(f.block.clone());
        }
        for (id, blocks) in by_rule {
            let Some(dr) = a.resources.destination_rules.iter().find(|d| d.meta.id == id) else { continue };
            let Some(mut doc) = self.originals.get(&dr.meta) else { continue };
            restate::clean(&mut doc, dr.meta.namespace());
            let mut unset = Vec::new();
            for b in &blocks {
                if restate::unset_tls(&mut doc, b) {
                    unset.push(b.to_string());
                }
            }
            if unset.is_empty() {
                continue;
            }
            self.changes.push(Change {
                id: id.clone(),
                stage: Stage::DestinationRules,
                create: false,
                summary: format!("unset {} (plaintext; auto mTLS then decides per endpoint)", unset.join(", ")),
                doc,
                then: None,
            });
        }
    }

    /// One target for workloads that share a policy: a port is STRICT only where all of them
    /// can be; the others are withdrawn with the reason.
    fn shared_target(&mut self, members: &[usize]) -> Option<(BTreeMap<u16, Mode>, Mode)> {
        let targets: Vec<(usize, BTreeMap<u16, Mode>, Mode)> =
            members.iter().filter_map(|&i| self.desired(i).map(|(p, d)| (i, p, d))).collect();
        let (_, first_ports, first_default) = targets.first()?.clone();
        let mut ports = first_ports;
        let mut default = first_default;
        for (_, p, d) in targets.iter().skip(1) {
            for (port, mode) in p {
                let e = ports.entry(*port).or_insert(*mode);
                if *e != *mode {
                    // Below STRICT wins: the STRICT side is withdrawn.
                    if *e == Mode::Strict {
                        *e = *mode;
                    }
                }
            }
            if *d != default && default == Mode::Strict {
                default = *d;
            }
        }
        for (i, p, d) in &targets {
            let Some(w) = self.a.workloads.get(*i) else { continue };
            for (port, mode) in p {
                if *mode == Mode::Strict && ports.get(port).is_some_and(|m| *m != Mode::Strict) {
                    self.strict.remove(&(*i, *port));
                    let r = Reason {
                        kind: BlockKind::SharedPolicy,
                        detail: format!(
                            "its PeerAuthentication also decides for other workloads of {}, one of which keeps port {port} below STRICT",
                            w.namespace()
                        ),
                        callers: 0,
                        examples: Vec::new(),
                        unblock: "give it a PeerAuthentication of its own (older than the shared one)".to_owned(),
                    };
                    self.reason((*i, *port), r);
                }
            }
            if *d == Mode::Strict && default != Mode::Strict {
                self.kept_default.insert(*i);
            }
        }
        // Ports some members do not know get the workload-level mode there; keep entries only
        // where they differ from it.
        Some((ports, default))
    }

    /// A selector for a new workload policy of `wi`: `app`, `app`+`version`, then all pod
    /// labels, the first that selects only workloads without a workload policy of their own
    /// and with `wi`'s targets. Returns it with the workloads it selects.
    fn selector_for(&self, wi: usize) -> Option<(Labels, Vec<usize>)> {
        let a = self.a;
        let w = a.workloads.get(wi)?;
        let labels = w.labels();
        let mut candidates: Vec<Labels> = Vec::new();
        let pick = |keys: &[&str]| -> Option<Labels> {
            let l: Labels = keys.iter().filter_map(|k| labels.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
            (l.len() == keys.len()).then_some(l)
        };
        candidates.extend(pick(&["app"]));
        candidates.extend(pick(&["app", "version"]));
        let all: Labels = labels
            .iter()
            .filter(|(k, _)| k.as_str() != "pod-template-hash")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        candidates.push(all);
        let want = self.desired(wi);
        for sel in candidates.into_iter().filter(|s| !s.is_empty()) {
            let selected: Vec<usize> =
                a.workloads_in(w.namespace()).filter(|(_, x)| selects(&sel, x.labels())).map(|(i, _)| i).collect();
            let ok = selected.iter().all(|&i| {
                i == wi
                    || a.workloads.get(i).is_some_and(|x| !x.sidecar)
                    || (workload_winner(a, i).is_none() && self.desired(i) == want)
            }) && workload_winner(a, wi).is_none();
            // A workload-level policy must not reach a workload that already has one: which one
            // is oldest would then be decided by the time of `kubectl apply`.
            let reaches_other_policy = selected.iter().any(|&i| workload_winner(a, i).is_some());
            if ok && !reaches_other_policy {
                return Some((sel, selected));
            }
        }
        None
    }

    #[expect(clippy::too_many_arguments, reason = "one call site per level; a struct would only rename them")]
    fn push_workload_change(
        &mut self,
        stage: Stage,
        wi: usize,
        existing: Option<&PeerAuthentication>,
        selector: Option<&Labels>,
        default: Mode,
        ports: &BTreeMap<u16, Mode>,
        members: &[usize],
    ) {
        let a = self.a;
        let Some(w) = a.workloads.get(wi) else { return };
        let entries: BTreeMap<u16, Mode> =
            ports.iter().filter(|(_, m)| **m != default).map(|(p, m)| (*p, *m)).collect();
        let ns = w.namespace().to_owned();
        let (id, create, mut doc) = match existing {
            Some(pa) => {
                let Some(mut doc) = self.originals.get(&pa.meta) else { return };
                restate::clean(&mut doc, &ns);
                (pa.meta.id.clone(), false, doc)
            }
            None => {
                let name = unique_pa_name(a, &self.changes, &ns, &format!("{}-mtls", w.workload.meta.name()));
                let doc = restate::new_pa(&ns, &name, selector, default, &entries);
                (ResourceId { kind: "PeerAuthentication".to_owned(), namespace: ns, name }, true, doc)
            }
        };
        restate::set_pa_modes(&mut doc, default, &entries);
        let who: Vec<String> = members.iter().filter_map(|&i| a.workloads.get(i)).map(|w| w.key()).collect();
        let port_text = if entries.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = entries.iter().map(|(p, m)| format!("{p}: {m}")).collect();
            format!(", portLevelMtls {{{}}}", list.join(", "))
        };
        let summary = format!("{default} for {}{port_text}", who.join(", "));
        let then = if stage == Stage::WorkloadPins {
            // First today's modes, written down; the targets once the namespace has left DISABLE.
            let now_default = w.server.mode;
            let now: BTreeMap<u16, Mode> = w
                .server
                .ports
                .iter()
                .map(|&p| (p, w.server.mode_for_port(p)))
                .filter(|(_, m)| *m != now_default)
                .collect();
            let final_doc = doc.clone();
            restate::set_pa_modes(&mut doc, now_default, &now);
            if now == entries && now_default == default { None } else { Some((summary.clone(), final_doc)) }
        } else {
            None
        };
        let pin_summary =
            if then.is_some() { format!("today's modes, written down, for {}", who.join(", ")) } else { summary };
        self.changes.push(Change { id, stage, create, summary: pin_summary, doc, then });
    }

    #[expect(clippy::too_many_arguments, reason = "mesh and namespace levels share it")]
    fn push_pa_change(
        &mut self,
        stage: Stage,
        ns: &str,
        winner: Option<&PeerAuthentication>,
        selector: Option<&Labels>,
        mode: Mode,
        ports: &BTreeMap<u16, Mode>,
        what: &str,
    ) {
        let (id, create, mut doc) = match winner {
            Some(pa) => {
                let Some(mut doc) = self.originals.get(&pa.meta) else { return };
                restate::clean(&mut doc, ns);
                (pa.meta.id.clone(), false, doc)
            }
            None => {
                let name = unique_pa_name(self.a, &self.changes, ns, "default");
                let doc = restate::new_pa(ns, &name, selector, mode, ports);
                (ResourceId { kind: "PeerAuthentication".to_owned(), namespace: ns.to_owned(), name }, true, doc)
            }
        };
        restate::set_pa_modes(&mut doc, mode, ports);
        let scope = if stage == Stage::Mesh { "the mesh".to_owned() } else { format!("namespace {ns}") };
        self.changes.push(Change { id, stage, create, summary: format!("{mode} {what} for {scope}"), doc, then: None });
    }

    // -----------------------------------------------------------------------------------------
    // Steps
    // -----------------------------------------------------------------------------------------

    fn finish(mut self) -> Result<Plan, PlanError> {
        let a = self.a;
        // Stage groups, in order; a pinned workload's final form goes to WorkloadsAfter.
        let mut staged: BTreeMap<Stage, Vec<Staged>> = BTreeMap::new();
        for c in &self.changes {
            staged.entry(c.stage).or_default().push((c.id.clone(), c.create, c.summary.clone(), c.doc.clone()));
            if let Some((summary, doc)) = &c.then {
                staged.entry(Stage::WorkloadsAfter).or_default().push((
                    c.id.clone(),
                    false,
                    summary.clone(),
                    doc.clone(),
                ));
            }
        }
        let mut groups: Vec<StageGroup> = staged.into_iter().map(|(s, list)| (vec![s], list)).collect();
        let mut steps: Vec<Step> = Vec::new();
        let mut state = a.clone();
        let mut i = 0usize;
        while i < groups.len() {
            let Some((stages, list)) = groups.get(i) else { break };
            let number = steps.len() + 1;
            let slug: Vec<&str> = stages.iter().map(|s| s.slug()).collect();
            let mut slug_dedup = slug.clone();
            slug_dedup.dedup();
            let file = format!("{number:02}-{}.yaml", slug_dedup.join("+"));
            let docs: Vec<Value> = list.iter().map(|(_, _, _, d)| d.clone()).collect();
            let yaml = restate::stream(&docs);
            let next = replay(&state, &file, &yaml)?;
            let cmp = self.compare(&state, &next, &file)?;
            let proof = Proof {
                calls: cmp.calls,
                breaks: cmp.proof_counts.0,
                decrypts: cmp.proof_counts.1,
                encrypts: cmp.proof_counts.2,
                fixes: cmp.proof_counts.3,
                changes: cmp.proof_counts.4,
                class_evaluations: cmp.evaluations,
                examples: cmp.examples,
            };
            if !proof.holds() && i + 1 < groups.len() {
                // Not safe on its own: apply it together with the next stage.
                let (next_stages, next_list) = groups.remove(i + 1);
                if let Some(g) = groups.get_mut(i) {
                    g.0.extend(next_stages);
                    merge_changes(&mut g.1, next_list);
                }
                continue;
            }
            if !proof.holds() {
                // The last stage on its own breaks: apply it together with the previous one.
                if steps.pop().is_none() || i == 0 {
                    return Err(PlanError::Unproven(file));
                }
                let (cur_stages, cur_list) = groups.remove(i);
                i -= 1;
                if let Some(g) = groups.get_mut(i) {
                    g.0.extend(cur_stages);
                    merge_changes(&mut g.1, cur_list);
                }
                state = self.replay_steps(groups.get(..i).unwrap_or_default())?;
                continue;
            }
            let becomes_strict = strict_gains(&state, &next, &self.gateways);
            let level = slug_dedup.join("+");
            let title = stages.iter().map(|s| s.title()).collect::<Vec<_>>().join("; then ");
            let resources = list
                .iter()
                .map(|(id, create, summary, _)| StepResource {
                    resource: id.to_string(),
                    action: if *create { "create" } else { "update" },
                    change: summary.clone(),
                })
                .collect();
            steps.push(Step {
                number,
                file,
                title,
                level,
                resources,
                becomes_strict,
                deletes: Vec::new(),
                yaml,
                proof,
            });
            state = next;
            i += 1;
        }
        let blocked = self.blocked(&state);
        let mut notes = std::mem::take(&mut self.fix_notes);
        notes.sort();
        notes.dedup();
        let external: Vec<&str> = a.services.iter().filter(|s| s.mesh_external).map(|s| s.host.as_str()).collect();
        if !external.is_empty() {
            notes.push(format!(
                "{} host(s) outside the mesh (ServiceEntry MESH_EXTERNAL: {}): STRICT does not apply to them and calls \
                 to them are unchanged",
                external.len(),
                external.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ));
        }
        if steps.is_empty() {
            notes.push(
                "nothing to do: no policy can be made stricter without breaking a call that works today".to_owned(),
            );
        }
        Ok(Plan {
            istio_version: a.version,
            goal: "strict",
            coverage: CoverageChange { before: coverage(a), after: coverage(&state) },
            steps,
            blocked,
            notes,
            cost: self.cost,
        })
    }

    fn replay_steps(&self, groups: &[StageGroup]) -> Result<Analysis, PlanError> {
        let mut state = self.a.clone();
        for (n, (_, list)) in groups.iter().enumerate() {
            let docs: Vec<Value> = list.iter().map(|(_, _, _, d)| d.clone()).collect();
            state = replay(&state, &format!("step-{}", n + 1), &restate::stream(&docs))?;
        }
        Ok(state)
    }

    /// Every sidecar port below STRICT at the end, with the reasons the search recorded.
    fn blocked(&self, last: &Analysis) -> Vec<Blocked> {
        let mut out = Vec::new();
        for (i, w) in last.workloads.iter().enumerate() {
            if !w.sidecar {
                continue;
            }
            if self.gateways.contains(&i) {
                let ports: Vec<u16> =
                    w.server.ports.iter().copied().filter(|&p| w.server.mode_for_port(p) != Mode::Strict).collect();
                out.push(Blocked {
                    workload: w.key(),
                    ports,
                    reasons: vec![BlockReason {
                        kind: BlockKind::Gateway,
                        detail: "a Gateway selects it: its listeners take TLS from the Gateway's servers, not from \
                                 PeerAuthentication"
                            .to_owned(),
                        callers: 0,
                        examples: Vec::new(),
                        unblock: "set `tls.mode` on the Gateway's servers (ISTIO_MUTUAL for in-mesh callers); \
                                  PeerAuthentication does not govern it"
                            .to_owned(),
                    }],
                });
                continue;
            }
            let below: Vec<u16> =
                w.server.ports.iter().copied().filter(|&p| w.server.mode_for_port(p) != Mode::Strict).collect();
            let default_below = w.server.mode != Mode::Strict;
            if below.is_empty() && !default_below {
                continue;
            }
            let mut reasons: Vec<BlockReason> = Vec::new();
            for p in &below {
                for r in self.reasons.get(&(i, *p)).into_iter().flatten() {
                    if let Some(x) = reasons.iter_mut().find(|x| x.kind == r.kind && x.detail == r.detail) {
                        x.callers = x.callers.max(r.callers);
                        continue;
                    }
                    reasons.push(BlockReason {
                        kind: r.kind.clone(),
                        detail: r.detail.clone(),
                        callers: r.callers,
                        examples: r.examples.clone(),
                        unblock: r.unblock.clone(),
                    });
                }
            }
            if reasons.is_empty() {
                let detail = if below.is_empty() {
                    "its workload-level mode (ports no Service or container declares) stays: another of its ports keeps \
                     a mode below STRICT, and the workload-level mode is written to match most of its ports"
                        .to_owned()
                } else {
                    "kept as it is".to_owned()
                };
                reasons.push(BlockReason {
                    kind: BlockKind::Other,
                    detail,
                    callers: 0,
                    examples: Vec::new(),
                    unblock: "unblock its other ports first".to_owned(),
                });
            }
            reasons.sort_by(|x, y| x.kind.cmp(&y.kind));
            out.push(Blocked { workload: w.key(), ports: below, reasons });
        }
        out
    }
}

/// Reads a step (or the whole plan) after `state`, as one stream.
fn replay(state: &Analysis, file: &str, yaml: &str) -> Result<Analysis, PlanError> {
    let parsed = crate::parse::parse_sources(&[Source::new(file, yaml)]);
    let problem = parsed.diagnostics.iter().find(|d| d.severity == crate::Severity::Error);
    if parsed.unreadable > 0 || problem.is_some() {
        let message = problem.map_or_else(|| "a document could not be parsed".to_owned(), |d| d.to_string());
        return Err(PlanError::StepUnreadable { file: file.to_owned(), message });
    }
    Ok(state.with_policies(parsed.resources))
}

/// Later changes to the same resource replace earlier ones (as the stream would read them).
fn merge_changes(into: &mut Vec<Staged>, later: Vec<Staged>) {
    for item in later {
        match into.iter_mut().find(|(id, ..)| *id == item.0) {
            Some(existing) => {
                let create = existing.1;
                *existing = (item.0, create, item.2, item.3);
            }
            None => into.push(item),
        }
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

/// The namespace's deciding selector-less PeerAuthentication: the oldest
/// (`model/authentication.go :: addPeerAuthentication` keeps only it).
fn ns_winner<'a>(a: &'a Analysis, ns: &str) -> Option<&'a PeerAuthentication> {
    a.peer_authentications_in(ns).filter(|pa| !pa.has_selector()).min_by(|x, y| x.meta.age_key().cmp(&y.meta.age_key()))
}

/// The workload's deciding workload-level PeerAuthentication: the oldest whose selector matches
/// (`policy_applier.go :: ComposePeerAuthentication`); none in the root namespace, where a
/// selector PA is ignored.
fn workload_winner(a: &Analysis, wi: usize) -> Option<&PeerAuthentication> {
    let w = a.workloads.get(wi)?;
    if w.namespace() == a.mesh.root_namespace {
        return None;
    }
    a.peer_authentications_in(w.namespace())
        .filter(|pa| pa.has_selector() && pa.selector.as_ref().is_some_and(|s| s.matches(w.labels())))
        .min_by(|x, y| x.meta.age_key().cmp(&y.meta.age_key()))
}

/// The modes `ComposePeerAuthentication` gives known ports and the workload level, with this
/// workload policy (if any) over the inherited namespace mode.
fn resulting(ports: &[u16], winner: Option<&PeerAuthentication>, inherited: Mode) -> (BTreeMap<u16, Mode>, Mode) {
    let default = winner.and_then(|pa| pa.mode.resolved()).unwrap_or(inherited);
    let out = ports
        .iter()
        .map(|&p| {
            let m = winner.and_then(|pa| pa.port_level.get(&u32::from(p))).map_or(default, |pm| {
                if pm.mode == DeclaredMode::Unset { default } else { pm.mode.resolved().unwrap_or(default) }
            });
            (p, m)
        })
        .collect();
    (out, default)
}

/// The mode most ports want (ties: STRICT, then the fallback).
fn majority(ports: &BTreeMap<u16, Mode>, fallback: Mode) -> Mode {
    let mut counts: HashMap<Mode, usize> = HashMap::new();
    for m in ports.values() {
        *counts.entry(*m).or_default() += 1;
    }
    let best = counts.values().copied().max().unwrap_or(0);
    if best == 0 {
        return fallback;
    }
    if counts.get(&Mode::Strict) == Some(&best) {
        return Mode::Strict;
    }
    if counts.get(&fallback) == Some(&best) {
        return fallback;
    }
    [Mode::Permissive, Mode::Disable].into_iter().find(|m| counts.get(m) == Some(&best)).unwrap_or(fallback)
}

/// A PeerAuthentication name no policy of the namespace has, in the input or among the changes.
fn unique_pa_name(a: &Analysis, changes: &[Change], ns: &str, want: &str) -> String {
    let taken = |n: &str| {
        a.peer_authentications_in(ns).any(|pa| pa.meta.name() == n)
            || changes.iter().any(|c| c.id.kind == "PeerAuthentication" && c.id.namespace == ns && c.id.name == n)
    };
    if !taken(want) {
        return want.to_owned();
    }
    (2..).map(|i| format!("{want}-{i}")).find(|n| !taken(n)).unwrap_or_else(|| format!("{want}-meshlock"))
}

/// Ports that are STRICT in `after` and were not in `before`, per workload.
fn strict_gains(before: &Analysis, after: &Analysis, gateways: &BTreeSet<usize>) -> Vec<StrictGain> {
    let mut out = Vec::new();
    for (i, (b, c)) in before.workloads.iter().zip(&after.workloads).enumerate() {
        if !c.sidecar || gateways.contains(&i) {
            continue;
        }
        let ports: Vec<u16> = c
            .server
            .ports
            .iter()
            .copied()
            .filter(|&p| c.server.mode_for_port(p) == Mode::Strict && b.server.mode_for_port(p) != Mode::Strict)
            .collect();
        let default_gain = c.server.ports.is_empty() && c.server.mode == Mode::Strict && b.server.mode != Mode::Strict;
        if !ports.is_empty() || default_gain {
            out.push(StrictGain { workload: c.key(), ports });
        }
    }
    out
}

#[cfg(test)]
mod tests;
