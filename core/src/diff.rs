//! `diff`: the calls whose outcome or encryption changes between two inputs — the question a
//! team asks before it flips a namespace to STRICT.

use crate::analysis::Analysis;
use crate::reach::{ReachCounts, ReachFilter, summarize_streamed};
use crate::report::{Call, CallChange, CallOutcome, ChangeKind, DiffReport, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

type Key = (String, String, String, Option<String>);

pub fn diff(before: &Analysis, after: &Analysis, filter: &ReachFilter) -> DiffReport {
    let index =
        |a: &Analysis| -> BTreeMap<Key, Call> { a.reach(filter).calls.into_iter().map(|c| (c.key(), c)).collect() };
    let (b, mut af) = (index(before), index(after));
    let mut changes = Vec::new();
    for (key, old) in b {
        match af.remove(&key) {
            Some(new) => {
                let Some(change) = change_kind(&old, &new) else { continue };
                changes.push(change_of(&new, Some(&old), Some(&new), change));
            }
            None => changes.push(change_of(&old, Some(&old), None, ChangeKind::Removed)),
        }
    }
    for new in af.values() {
        changes.push(change_of(new, None, Some(new), ChangeKind::Added));
    }
    // `ChangeKind`'s order: what a reviewer must see first.
    changes.sort_by(|a, b| (a.change, &a.from, &a.to, &a.to_workload).cmp(&(b.change, &b.from, &b.to, &b.to_workload)));
    DiffReport { changes }
}

/// How one call changed, or `None` when it did not (a call present on both sides is never
/// `Added` or `Removed`).
pub fn change_kind(old: &Call, new: &Call) -> Option<ChangeKind> {
    use Outcome::{Fails, Mtls, Plaintext};
    Some(match (old.outcome, new.outcome) {
        (Mtls | Plaintext, Fails) => ChangeKind::Breaks,
        (Fails, Mtls | Plaintext) => ChangeKind::Fixes,
        (Plaintext, Mtls) => ChangeKind::Encrypts,
        (Mtls, Plaintext) => ChangeKind::Decrypts,
        _ if old.client_tls != new.client_tls || old.server_mode != new.server_mode => ChangeKind::Changes,
        _ => return None,
    })
}

fn change_of(c: &Call, before: Option<&Call>, after: Option<&Call>, change: ChangeKind) -> CallChange {
    CallChange {
        from: c.from.clone(),
        to: c.to.clone(),
        to_workload: c.to_workload.clone(),
        subset: c.subset.clone(),
        before: before.map(CallOutcome::from),
        after: after.map(CallOutcome::from),
        change,
    }
}

/// `diff` of two meshes too large to compare call by call: the counts per client namespace ×
/// service namespace before and after, and the failure causes whose number of calls changes.
/// Counts are net: within one namespace pair, a call that breaks and another that is fixed
/// cancel out — narrow the inputs (a `ReachFilter`) and use [`diff`] for each call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryDiff {
    pub before: ReachCounts,
    pub after: ReachCounts,
    /// Pairs whose counts differ, the most newly failing first.
    pub namespaces: Vec<NamespacePairChange>,
    /// Causes whose number of failing calls differs, the most grown first.
    pub failures: Vec<FailureChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacePairChange {
    pub from: String,
    pub to: String,
    pub before: ReachCounts,
    pub after: ReachCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureChange {
    pub cause: String,
    pub before: u64,
    pub after: u64,
    /// Calls of this cause after the change (before it, when it is gone).
    pub examples: Vec<Call>,
}

pub fn diff_summary(before: &Analysis, after: &Analysis, filter: &ReachFilter, examples: usize) -> SummaryDiff {
    let (b, a) = (summarize_streamed(before, filter, examples), summarize_streamed(after, filter, examples));
    // Both sides come sorted by (client namespace, service namespace): merged in one pass, and
    // only the pairs that change are kept.
    let mut namespaces: Vec<NamespacePairChange> = Vec::new();
    let (mut xs, mut ys) = (b.namespaces.pairs().peekable(), a.namespaces.pairs().peekable());
    loop {
        let order = match (xs.peek(), ys.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => (x.0, x.1).cmp(&(y.0, y.1)),
        };
        let (pair, before, after) = match order {
            std::cmp::Ordering::Less => match xs.next() {
                Some((from, to, counts)) => ((from, to), counts, ReachCounts::default()),
                None => break,
            },
            std::cmp::Ordering::Greater => match ys.next() {
                Some((from, to, counts)) => ((from, to), ReachCounts::default(), counts),
                None => break,
            },
            std::cmp::Ordering::Equal => match (xs.next(), ys.next()) {
                (Some((from, to, x)), Some((_, _, y))) => ((from, to), x, y),
                _ => break,
            },
        };
        if before != after {
            namespaces.push(NamespacePairChange { from: pair.0.to_owned(), to: pair.1.to_owned(), before, after });
        }
    }
    let signed = |n: u64| i128::from(n);
    namespaces.sort_by_key(|c| {
        (
            std::cmp::Reverse(signed(c.after.failing) - signed(c.before.failing)),
            std::cmp::Reverse(signed(c.before.mtls) - signed(c.after.mtls)),
            c.from.clone(),
            c.to.clone(),
        )
    });
    let mut causes: BTreeMap<String, (u64, u64, Vec<Call>, Vec<Call>)> = BTreeMap::new();
    for g in b.failures {
        let e = causes.entry(g.cause).or_default();
        e.0 = g.calls;
        e.2 = g.examples;
    }
    for g in a.failures {
        let e = causes.entry(g.cause).or_default();
        e.1 = g.calls;
        e.3 = g.examples;
    }
    let mut failures: Vec<FailureChange> = causes
        .into_iter()
        .filter(|(_, (x, y, _, _))| x != y)
        .map(|(cause, (before, after, old, new))| FailureChange {
            cause,
            before,
            after,
            examples: if new.is_empty() { old } else { new },
        })
        .collect();
    failures.sort_by_key(|f| (std::cmp::Reverse(signed(f.after) - signed(f.before)), f.cause.clone()));
    SummaryDiff { before: b.counts, after: a.counts, namespaces, failures }
}
