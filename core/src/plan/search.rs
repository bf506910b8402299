//! The search: the most that could change, checked against today call by call; each call that
//! breaks or loses encryption withdraws its cause, until nothing does.

use super::*;
use crate::client::rule_tls;
use crate::provenance::ClientTlsSource;
use crate::reach::{PairedCall, ReachFilter, for_each_class_pair};
use crate::report::{CallChange, CallOutcome, ChangeKind, ClientTlsKind, Outcome};

impl Planner<'_> {
    pub(super) fn search(&mut self) -> Result<(), PlanError> {
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
        let what =
            if bad.before.outcome.ok() && bad.after.outcome == Outcome::Fails { "breaks" } else { "loses encryption" };
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
                && matches!(bad.after.client_tls_source, ClientTlsSource::Rule { .. })
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
        if let Some(fix) = &bad.before_origin
            && self.fixes.remove(fix)
        {
            self.fix_notes.push(format!(
                "{} {} stays as it is: unset, the call from {client_key} to {} {what} ({symptom})",
                fix.rule, fix.block, bad.after.to
            ));
            return true;
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
    pub(super) fn compare(&mut self, before: &Analysis, after: &Analysis, what: &str) -> Result<Comparison, PlanError> {
        let mut cmp = Comparison::default();
        let mut examples_full = false;
        let strict_after = |w: usize, port: u16| {
            after.workloads.get(w).is_some_and(|w| w.sidecar && w.server.mode_for_port(port) == Mode::Strict)
        };
        let calls = for_each_class_pair(before, after, &ReachFilter::default(), |pc: PairedCall<'_>| {
            cmp.evaluations += 1;
            let (b, c) = (&pc.before.call, &pc.after.call);
            let Some(change) = crate::diff::change_kind(b, c) else { return };
            let counts = &mut cmp.proof_counts;
            match change {
                ChangeKind::Breaks => counts.0 += pc.size,
                ChangeKind::Decrypts => counts.1 += pc.size,
                ChangeKind::Encrypts => counts.2 += pc.size,
                ChangeKind::Fixes => counts.3 += pc.size,
                ChangeKind::Changes | ChangeKind::Added | ChangeKind::Removed => counts.4 += pc.size,
            }
            if !examples_full {
                cmp.examples.push(CallChange {
                    from: b.from.clone(),
                    to: b.to.clone(),
                    to_workload: b.to_workload.clone(),
                    subset: b.subset.clone(),
                    before: Some(CallOutcome::from(b)),
                    after: Some(CallOutcome::from(c)),
                    change,
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
                rule_tls(rule, pc.port.port, pc.subset).part().origin()
            };
            match change {
                ChangeKind::Breaks | ChangeKind::Decrypts => cmp.bad.push(Bad {
                    size: pc.size,
                    client: pc.client,
                    endpoint: pc.endpoint,
                    target: c.target_port,
                    service_namespace: before.services.get(pc.service).map(|s| s.namespace.clone()).unwrap_or_default(),
                    before_origin: origin(),
                    before: b.clone(),
                    after: c.clone(),
                }),
                ChangeKind::Encrypts | ChangeKind::Fixes
                    if c.outcome == Outcome::Mtls && strict_after(pc.endpoint, c.target_port) =>
                {
                    if let Some(fix) = origin() {
                        cmp.used_fixes.insert(fix);
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
        // Changed calls in diff's order (`ChangeKind`'s): what breaks first, then what loses
        // encryption. Calls here are paired, so never added or removed.
        cmp.examples.sort_by(|x, y| (x.change, &x.from, &x.to).cmp(&(y.change, &y.from, &y.to)));
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
}
