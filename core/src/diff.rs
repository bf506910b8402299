//! `diff`: the calls whose outcome or encryption changes between two inputs — the question a
//! team asks before it flips a namespace to STRICT.

use crate::analysis::Analysis;
use crate::reach::ReachFilter;
use crate::report::{Call, CallChange, CallOutcome, DiffReport};
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
                let change = match (old.ok, new.ok, old.mtls, new.mtls) {
                    (true, false, _, _) => "breaks",
                    (false, true, _, _) => "fixes",
                    (_, _, false, true) => "encrypts",
                    (_, _, true, false) => "decrypts",
                    _ if old.client_tls != new.client_tls || old.server_mode != new.server_mode => "changes",
                    _ => continue,
                };
                changes.push(change_of(&new, Some(&old), Some(&new), change));
            }
            None => changes.push(change_of(&old, Some(&old), None, "removed")),
        }
    }
    for new in af.values() {
        changes.push(change_of(new, None, Some(new), "added"));
    }
    // What a reviewer must see first: calls that break, then those that lose encryption.
    let rank = |c: &CallChange| match c.change.as_str() {
        "breaks" => 0,
        "decrypts" => 1,
        "removed" => 2,
        "fixes" => 3,
        "encrypts" => 4,
        "added" => 5,
        _ => 6,
    };
    changes.sort_by(|a, b| (rank(a), &a.from, &a.to, &a.to_workload).cmp(&(rank(b), &b.from, &b.to, &b.to_workload)));
    DiffReport { changes }
}

fn change_of(c: &Call, before: Option<&Call>, after: Option<&Call>, change: &str) -> CallChange {
    CallChange {
        from: c.from.clone(),
        to: c.to.clone(),
        to_workload: c.to_workload.clone(),
        subset: c.subset.clone(),
        before: before.map(CallOutcome::from),
        after: after.map(CallOutcome::from),
        change: change.to_owned(),
    }
}
