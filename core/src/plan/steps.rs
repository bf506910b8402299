//! Steps: the changes grouped into stages that are each safe on their own, replayed one after
//! the other, each with its proof; then what stays below STRICT and why.

use super::*;

impl Planner<'_> {
    pub(super) fn finish(mut self) -> Result<Plan, PlanError> {
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
pub(super) fn replay(state: &Analysis, file: &str, yaml: &str) -> Result<Analysis, PlanError> {
    let parsed = crate::parse::parse_sources(&[Source::new(file, yaml)]);
    let problem = parsed.diagnostics.iter().find(|d| d.severity == crate::Severity::Error);
    if parsed.unreadable > 0 || problem.is_some() {
        let message = problem.map_or_else(|| "a document could not be parsed".to_owned(), |d| d.to_string());
        return Err(PlanError::StepUnreadable { file: file.to_owned(), message });
    }
    Ok(state.with_policies(parsed.resources))
}

/// Later changes to the same resource replace earlier ones (as the stream would read them).
pub(super) fn merge_changes(into: &mut Vec<Staged>, later: Vec<Staged>) {
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

/// Ports that are STRICT in `after` and were not in `before`, per workload.
pub(super) fn strict_gains(before: &Analysis, after: &Analysis, gateways: &BTreeSet<usize>) -> Vec<StrictGain> {
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
