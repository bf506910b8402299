//! Realisation: the coarsest PeerAuthentications (mesh, namespace, workload, port) and the
//! DestinationRule changes that give every port its target mode, as documents to apply.

use super::*;
use crate::model::{DeclaredMode, first_by_id, selects};

impl Planner<'_> {
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
    pub(super) fn realise(&mut self) {
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
            // The namespace's PeerAuthentications, from the index: a search of the mesh's per
            // group is quadratic in a mesh with a policy per workload.
            let Some(pa) = a.peer_authentications_in(&id.namespace).find(|p| p.meta.id == id) else { continue };
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
        let rules = first_by_id(&a.resources.destination_rules, |d| &d.meta.id);
        for (id, blocks) in by_rule {
            let Some(&dr) = rules.get(&id) else { continue };
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
}

/// The namespace's deciding selector-less PeerAuthentication: the oldest
/// (`model/authentication.go :: addPeerAuthentication` keeps only it).
pub(super) fn ns_winner<'a>(a: &'a Analysis, ns: &str) -> Option<&'a PeerAuthentication> {
    a.peer_authentications_in(ns).filter(|pa| !pa.has_selector()).min_by(|x, y| x.meta.age_key().cmp(&y.meta.age_key()))
}

/// The workload's deciding workload-level PeerAuthentication: the oldest whose selector matches
/// (`policy_applier.go :: ComposePeerAuthentication`); none in the root namespace, where a
/// selector PA is ignored.
pub(super) fn workload_winner(a: &Analysis, wi: usize) -> Option<&PeerAuthentication> {
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
pub(super) fn resulting(
    ports: &[u16],
    winner: Option<&PeerAuthentication>,
    inherited: Mode,
) -> (BTreeMap<u16, Mode>, Mode) {
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
pub(super) fn majority(ports: &BTreeMap<u16, Mode>, fallback: Mode) -> Mode {
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
pub(super) fn unique_pa_name(a: &Analysis, changes: &[Change], ns: &str, want: &str) -> String {
    let taken = |n: &str| {
        a.peer_authentications_in(ns).any(|pa| pa.meta.name() == n)
            || changes.iter().any(|c| c.id.kind == "PeerAuthentication" && c.id.namespace == ns && c.id.name == n)
    };
    if !taken(want) {
        return want.to_owned();
    }
    (2..).map(|i| format!("{want}-{i}")).find(|n| !taken(n)).unwrap_or_else(|| format!("{want}-meshlock"))
}
