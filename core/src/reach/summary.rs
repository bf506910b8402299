//! The reach of a mesh too large to list: counts per client namespace × service namespace, and
//! the failing calls grouped by what breaks them.
//!
//! A mesh of N namespaces where every namespace calls every other has N² namespace pairs (6.25
//! million at 2,500 namespaces). The class traversal sees far fewer distinct contributions: a
//! class spanning namespaces (clients without a sidecar, sidecar clients outside a few special
//! namespaces) adds one member's calls per service namespace. [`NamespaceMatrix`] keeps them in
//! that factored form and expands one client namespace's row at a time, so a caller can stream
//! the pairs or rank them without holding them all.

use super::{Members, ReachCounts, ReachFilter, Scope, Scopes, class_size, for_each_class_call};
use crate::index::Analysis;
use crate::report::{Call, Outcome};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

/// The reach of a mesh too large to list: counts per client namespace × service namespace, and
/// the failing calls grouped by what breaks them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReachSummary {
    pub counts: ReachCounts,
    /// Pairs with at least one call, by client namespace then service namespace.
    pub namespaces: Vec<NamespacePair>,
    /// Most calls first.
    pub failures: Vec<FailureGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct NamespacePair {
    /// The clients' namespace.
    pub from: String,
    /// The service's namespace.
    pub to: String,
    pub counts: ReachCounts,
}

/// Failing calls with one cause.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct FailureGroup {
    /// What breaks them: the policy or rule, never a particular client.
    pub cause: String,
    pub calls: u64,
    /// Distinct client workloads.
    pub clients: u64,
    /// Distinct services.
    pub services: u64,
    /// The first few calls, in full.
    pub examples: Vec<Call>,
}

/// [`ReachSummary`] with its namespace pairs not yet expanded. It serialises exactly as the
/// [`ReachSummary`] it collects into, writing the pairs as they are expanded.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamedSummary<'a> {
    pub counts: ReachCounts,
    pub namespaces: NamespaceMatrix<'a>,
    pub failures: Vec<FailureGroup>,
}

impl StreamedSummary<'_> {
    /// Every pair expanded: a mesh of N namespaces may hold N² of them.
    pub fn collect(self) -> ReachSummary {
        let namespaces = self
            .namespaces
            .pairs()
            .map(|(from, to, counts)| NamespacePair { from: from.to_owned(), to: to.to_owned(), counts })
            .collect();
        ReachSummary { counts: self.counts, namespaces, failures: self.failures }
    }
}

/// The counts per client namespace × service namespace, factored as the class traversal found
/// them: calls of classes listed within one namespace, plus calls of classes spanning namespaces
/// counted once per member and multiplied out by each namespace's number of members when a row
/// is expanded.
#[derive(Debug)]
pub struct NamespaceMatrix<'a> {
    /// Every namespace a pair can name, sorted: rows and columns come in this order.
    names: Vec<&'a str>,
    /// Calls of classes listed within one client namespace, per client namespace: (service
    /// namespace, counts).
    listed: Vec<Vec<(usize, ReachCounts)>>,
    /// Calls of classes spanning namespaces.
    spread: Vec<Spread>,
    /// Per scope (`Scope::All`, `Scope::FilterNamespaces`), per namespace: wanted clients
    /// without a sidecar.
    no_sidecar: [Vec<u64>; 2],
    /// Per scope, per namespace: wanted sidecar clients.
    sidecars: [Vec<u64>; 2],
}

/// The calls of one member of a class spanning namespaces, per service namespace.
#[derive(Debug)]
struct Spread {
    members: SpreadMembers,
    to: Vec<(usize, ReachCounts)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SpreadMembers {
    NoSidecar(Scope),
    /// Sidecar clients outside these namespaces (indexes into `names`, sorted).
    SidecarsOutside(Scope, Vec<usize>),
}

/// The spread form of a class spanning namespaces (`None` for a class listed within one).
fn spread_members_of(members: &Members<'_>, index: impl Fn(&str) -> Option<usize>) -> Option<SpreadMembers> {
    match members {
        Members::Listed(..) => None,
        Members::NoSidecar(scope) => Some(SpreadMembers::NoSidecar(*scope)),
        Members::SidecarsOutside(scope, except) => {
            // A namespace without clients or services has no index and no members to leave out.
            let mut except: Vec<usize> = except.iter().filter_map(|ns| index(ns)).collect();
            except.sort_unstable();
            Some(SpreadMembers::SidecarsOutside(*scope, except))
        }
    }
}

fn scope_slot(scope: Scope) -> usize {
    match scope {
        Scope::All => 0,
        Scope::FilterNamespaces => 1,
    }
}

impl<'a> NamespaceMatrix<'a> {
    /// How many clients of client namespace `from` a spread class stands for.
    fn members_in(&self, members: &SpreadMembers, from: usize) -> u64 {
        let count = |per: &[Vec<u64>; 2], scope: Scope| {
            per.get(scope_slot(scope)).and_then(|v| v.get(from)).copied().unwrap_or(0)
        };
        match members {
            SpreadMembers::NoSidecar(scope) => count(&self.no_sidecar, *scope),
            SpreadMembers::SidecarsOutside(scope, except) => {
                if except.binary_search(&from).is_ok() {
                    0
                } else {
                    count(&self.sidecars, *scope)
                }
            }
        }
    }

    /// One client namespace's counts, by service namespace (indexes into `names`).
    fn row(&self, from: usize) -> Vec<ReachCounts> {
        let mut row = vec![ReachCounts::default(); self.names.len()];
        for (to, counts) in self.listed.get(from).into_iter().flatten() {
            if let Some(cell) = row.get_mut(*to) {
                cell.add_scaled(counts, 1);
            }
        }
        for spread in &self.spread {
            let n = self.members_in(&spread.members, from);
            if n == 0 {
                continue;
            }
            for (to, unit) in &spread.to {
                if let Some(cell) = row.get_mut(*to) {
                    cell.add_scaled(unit, n);
                }
            }
        }
        row
    }

    /// The pairs with at least one call, by client namespace then service namespace, expanded
    /// one client namespace at a time.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str, ReachCounts)> + '_ {
        self.names.iter().enumerate().flat_map(move |(from_index, from)| {
            let row = self.row(from_index);
            self.names
                .iter()
                .zip(row)
                .filter(|(_, counts)| counts.total > 0)
                .map(move |(to, counts)| (*from, *to, counts))
        })
    }

    /// Every namespace a pair can name, sorted: the order of [`NamespaceMatrix::pairs`].
    pub fn names(&self) -> &[&'a str] {
        &self.names
    }

    /// The `n` pairs that `keep` keeps with the most failing calls (then plaintext, then calls;
    /// ties in the pairs' own order), most failing first, and how many pairs there are: a
    /// bounded heap over the pairs as they are expanded, since a mesh of N namespaces may have
    /// N² of them.
    pub fn most_failing(&self, n: usize, mut keep: impl FnMut(&str, &str, &ReachCounts) -> bool) -> RankedPairs<'a> {
        // Ranked by `Rank` alone: `seq` is unique, so the rest of an entry is never compared.
        type Rank = (u64, u64, u64, Reverse<usize>);
        let mut heap: BinaryHeap<Reverse<(Rank, &'a str, &'a str, u64)>> = BinaryHeap::with_capacity(n.min(1 << 16));
        let (mut all, mut kept) = (0, 0);
        for (seq, (from, to, c)) in self.pairs().enumerate() {
            all += 1;
            if !keep(from, to, &c) {
                continue;
            }
            kept += 1;
            let rank = (c.failing, c.plaintext, c.total, Reverse(seq));
            // A full heap only takes a pair that outranks its least.
            if heap.len() >= n && heap.peek().is_none_or(|Reverse((least, ..))| rank <= *least) {
                continue;
            }
            heap.push(Reverse((rank, from, to, c.mtls)));
            if heap.len() > n {
                heap.pop();
            }
        }
        let top = heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(((failing, plaintext, total, _), from, to, mtls))| {
                (from, to, ReachCounts { total, failing, plaintext, mtls })
            })
            .collect();
        RankedPairs { top, kept, all }
    }
}

/// What [`NamespaceMatrix::most_failing`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedPairs<'a> {
    /// At most the `n` asked for: (client namespace, service namespace, counts), most failing
    /// first.
    pub top: Vec<(&'a str, &'a str, ReachCounts)>,
    /// Pairs that `keep` kept.
    pub kept: usize,
    /// Pairs with at least one call.
    pub all: usize,
}

impl serde::Serialize for NamespaceMatrix<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// [`NamespacePair`], borrowed.
        #[derive(serde::Serialize)]
        struct Pair<'p> {
            from: &'p str,
            to: &'p str,
            counts: ReachCounts,
        }
        serializer.collect_seq(self.pairs().map(|(from, to, counts)| Pair { from, to, counts }))
    }
}

#[derive(Default)]
struct GroupTally<'a> {
    calls: u64,
    services: HashSet<&'a str>,
    /// The scopes whose clients without a sidecar are in the group.
    no_sidecar: BTreeSet<Scope>,
    /// Per scope: the namespaces every `SidecarsOutside` class of the group leaves out. The
    /// group holds every sidecar client of the scope's other namespaces (the union of each
    /// class's namespaces is all but the intersection of what they leave out).
    outside_except: [Option<BTreeSet<&'a str>>; 2],
    /// Namespaces a `Listed` class of the group holds whole: every sidecar client of the
    /// namespace, kept as its name. A policy per workload makes a group per policy, each failing
    /// for nearly every client namespace: kept client by client, that is a set of nearly every
    /// client per group, groups × clients in all.
    whole: HashSet<&'a str>,
    /// Clients of `Listed` classes that hold part of their namespace.
    listed: HashSet<usize>,
    examples: Vec<Call>,
}

/// The namespaces whose every sidecar client is in a failure group: per scope, each namespace
/// of the scope but those the group's `SidecarsOutside` classes all leave out (none for a scope
/// without such a class). Asked per group, so it is worked out from the left-out namespaces (a
/// few) rather than by listing the scope's namespaces (all of them, for every group).
struct FullNamespaces<'s, 'a> {
    scopes: &'s Scopes<'a>,
    except: &'s [Option<BTreeSet<&'a str>>; 2],
}

impl FullNamespaces<'_, '_> {
    fn except(&self, scope: Scope) -> Option<&BTreeSet<&str>> {
        self.except.get(scope_slot(scope)).and_then(Option::as_ref)
    }

    fn in_scope(&self, scope: Scope, ns: &str) -> bool {
        self.except(scope)
            .is_some_and(|except| self.scopes.get(scope).by_namespace.contains_key(ns) && !except.contains(ns))
    }

    fn contains(&self, ns: &str) -> bool {
        self.in_scope(Scope::All, ns) || self.in_scope(Scope::FilterNamespaces, ns)
    }

    /// The sidecar clients of these namespaces, counted as in all clients. `totals` holds, per
    /// scope, the count over all of the scope's namespaces. The filter's scope is a part of all
    /// clients (its namespaces are among theirs), so a namespace of both is counted once: under
    /// all clients unless the group leaves it out there.
    fn clients(&self, totals: &[usize; 2]) -> usize {
        let size = |ns: &&str| self.scopes.all.by_namespace.get(ns).map_or(0, Vec::len);
        let total = |scope: Scope| totals.get(scope_slot(scope)).copied().unwrap_or(0);
        let in_keys = |scope: Scope, ns: &&str| self.scopes.get(scope).by_namespace.contains_key(ns);
        let left_out = |scope: Scope, except: &BTreeSet<&str>| -> usize {
            except.iter().filter(|ns| in_keys(scope, ns)).map(size).sum()
        };
        match (self.except(Scope::All), self.except(Scope::FilterNamespaces)) {
            (None, None) => 0,
            (Some(all), None) => total(Scope::All).saturating_sub(left_out(Scope::All, all)),
            (None, Some(filter)) => {
                total(Scope::FilterNamespaces).saturating_sub(left_out(Scope::FilterNamespaces, filter))
            }
            // What the filter's scope adds: its namespaces that all clients' classes left out.
            (Some(all), Some(filter)) => {
                let added: usize = all
                    .iter()
                    .filter(|ns| in_keys(Scope::FilterNamespaces, ns) && !filter.contains(*ns))
                    .map(size)
                    .sum();
                total(Scope::All).saturating_sub(left_out(Scope::All, all)) + added
            }
        }
    }
}

/// [`ReachSummary`] in time linear in the mesh: the same class traversal as
/// [`super::count_calls`], each class's calls spread over its members' namespaces.
/// `examples`: calls kept per group.
pub fn summarize(a: &Analysis, filter: &ReachFilter, examples: usize) -> ReachSummary {
    summarize_streamed(a, filter, examples).collect()
}

/// [`summarize`] without expanding the namespace pairs: memory linear in the mesh, not in the
/// square of its namespaces.
pub fn summarize_streamed<'a>(a: &'a Analysis, filter: &ReachFilter, examples: usize) -> StreamedSummary<'a> {
    let scopes = Scopes::of(a, filter);
    let mut names: Vec<&'a str> =
        a.workloads.iter().map(|w| w.namespace()).chain(a.services.iter().map(|s| s.namespace.as_str())).collect();
    names.sort_unstable();
    names.dedup();
    let index = |ns: &str| names.binary_search_by(|n| (*n).cmp(ns)).ok();
    let mut counts = ReachCounts::default();
    let mut listed: HashMap<(usize, usize), ReachCounts> = HashMap::new();
    let mut spread_ids: HashMap<Members<'a>, usize> = HashMap::new();
    let mut spread_members: Vec<SpreadMembers> = Vec::new();
    let mut spread_cells: HashMap<(usize, usize), ReachCounts> = HashMap::new();
    let mut groups: HashMap<String, GroupTally<'a>> = HashMap::new();
    for_each_class_call(a, filter, &scopes, |class, svc, routed| {
        let outcome = routed.outcome();
        counts.add(outcome, class.size);
        let to = index(svc.namespace.as_str());
        match &class.members {
            Members::Listed(ns, _) => {
                if let (Some(from), Some(to)) = (index(ns), to) {
                    listed.entry((from, to)).or_default().add(outcome, class.size);
                }
            }
            wide => {
                let id = match spread_ids.get(wide) {
                    Some(id) => Some(*id),
                    None => spread_members_of(wide, index).map(|members| {
                        spread_members.push(members);
                        spread_ids.insert(wide.clone(), spread_members.len() - 1);
                        spread_members.len() - 1
                    }),
                };
                if let (Some(id), Some(to)) = (id, to) {
                    spread_cells.entry((id, to)).or_default().add(outcome, 1);
                }
            }
        }
        // Only a failing call has a cause: the others are never put into words.
        if outcome != Outcome::Fails {
            return;
        }
        // The cause alone: the call is put into words only when it is kept as an example.
        let Some(cause) = routed.cause() else { return };
        let g = groups.entry(cause).or_default();
        g.calls += class.size;
        g.services.insert(svc.host.as_str());
        match &class.members {
            Members::NoSidecar(scope) => {
                g.no_sidecar.insert(*scope);
            }
            Members::Listed(ns, list) => {
                // A class's members are some of its scope's clients of `ns`, and a scope's are
                // some of all clients': as many as all of them is all of them.
                let whole = scopes.all.by_namespace.get(ns).is_some_and(|all| all.len() == list.len());
                if whole {
                    g.whole.insert(ns);
                } else if !g.whole.contains(ns) {
                    g.listed.extend(list.iter().copied());
                }
            }
            Members::SidecarsOutside(scope, except) => {
                if let Some(seen) = g.outside_except.get_mut(scope_slot(*scope)) {
                    match seen {
                        Some(common) => common.retain(|ns| except.contains(ns)),
                        None => *seen = Some(except.iter().copied().collect()),
                    }
                }
            }
        }
        if g.examples.len() < examples {
            g.examples.push(routed.render().call);
        }
    });

    let add = |per: &mut [Vec<u64>; 2], scope: Scope, ns: &str, n: usize| {
        if let (Some(i), Some(v)) = (index(ns), per.get_mut(scope_slot(scope)))
            && let Some(count) = v.get_mut(i)
        {
            *count += class_size(n);
        }
    };
    let mut no_sidecar = [vec![0; names.len()], vec![0; names.len()]];
    let mut sidecars = [vec![0; names.len()], vec![0; names.len()]];
    for clients in [&scopes.all, &scopes.namespaces] {
        for w in clients.no_sidecar.iter().filter_map(|&i| a.workloads.get(i)) {
            add(&mut no_sidecar, clients.scope, w.namespace(), 1);
        }
        for (ns, list) in &clients.by_namespace {
            add(&mut sidecars, clients.scope, ns, list.len());
        }
    }
    let mut listed_rows: Vec<Vec<(usize, ReachCounts)>> = vec![Vec::new(); names.len()];
    for ((from, to), c) in listed {
        if let Some(row) = listed_rows.get_mut(from) {
            row.push((to, c));
        }
    }
    let mut spread: Vec<Spread> =
        spread_members.into_iter().map(|members| Spread { members, to: Vec::new() }).collect();
    for ((id, to), unit) in spread_cells {
        if let Some(s) = spread.get_mut(id) {
            s.to.push((to, unit));
        }
    }

    // Per scope, the sidecar clients (counted as in all clients) of every namespace it has.
    let scope_total = |scope: Scope| -> usize {
        scopes.get(scope).by_namespace.keys().filter_map(|ns| scopes.all.by_namespace.get(ns)).map(Vec::len).sum()
    };
    let totals = [scope_total(Scope::All), scope_total(Scope::FilterNamespaces)];
    let mut failures: Vec<FailureGroup> = groups
        .into_iter()
        .map(|(cause, g)| {
            let full = FullNamespaces { scopes: &scopes, except: &g.outside_except };
            let counted = |ns: &str| !full.contains(ns) && !g.whole.contains(ns);
            let listed =
                g.listed.iter().filter(|&&i| a.workloads.get(i).is_some_and(|w| counted(w.namespace()))).count()
                    + g.whole
                        .iter()
                        .filter(|ns| !full.contains(ns))
                        .filter_map(|ns| scopes.all.by_namespace.get(ns))
                        .map(Vec::len)
                        .sum::<usize>();
            // The filter's namespaces are a part of all clients.
            let no_sidecar = g.no_sidecar.iter().map(|&scope| scopes.get(scope).no_sidecar.len()).max().unwrap_or(0);
            FailureGroup {
                cause,
                calls: g.calls,
                clients: class_size(full.clients(&totals) + listed + no_sidecar),
                services: class_size(g.services.len()),
                examples: g.examples,
            }
        })
        .collect();
    failures.sort_by(|x, y| y.calls.cmp(&x.calls).then_with(|| x.cause.cmp(&y.cause)));
    StreamedSummary {
        counts,
        namespaces: NamespaceMatrix { names, listed: listed_rows, spread, no_sidecar, sidecars },
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reach::Clients;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const NAMESPACES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

    fn clients(scope: Scope, sizes: &[usize], keep: &[bool]) -> Clients<'static> {
        let mut next = 0;
        let by_namespace: BTreeMap<&'static str, Vec<usize>> = NAMESPACES
            .iter()
            .zip(sizes.iter().zip(keep))
            .filter(|(_, (size, kept))| **kept && **size > 0)
            .map(|(ns, (size, _))| {
                let members: Vec<usize> = (next..next + size).collect();
                next += size;
                (*ns, members)
            })
            .collect();
        Clients { scope, no_sidecar: Vec::new(), sidecar_total: next, by_namespace }
    }

    fn except(set: Option<Vec<bool>>) -> Option<BTreeSet<&'static str>> {
        set.map(|marks| NAMESPACES.iter().zip(marks).filter(|(_, m)| *m).map(|(ns, _)| *ns).collect())
    }

    proptest! {
        /// The full namespaces worked out from what is left out are the set built by listing
        /// every namespace of each scope, and so is their count of clients.
        #[test]
        fn full_namespaces_are_the_listed_set(
            sizes in proptest::collection::vec(0usize..4, NAMESPACES.len()),
            in_filter in proptest::collection::vec(any::<bool>(), NAMESPACES.len()),
            except_all in proptest::option::of(proptest::collection::vec(any::<bool>(), NAMESPACES.len())),
            except_filter in proptest::option::of(proptest::collection::vec(any::<bool>(), NAMESPACES.len())),
        ) {
            let all = clients(Scope::All, &sizes, &[true; NAMESPACES.len()]);
            // The filter's scope is a part of all clients: some of their namespaces.
            let filter = clients(Scope::FilterNamespaces, &sizes, &in_filter);
            let scopes = Scopes { all, namespaces: filter };
            let except = [except(except_all), except(except_filter)];
            let listed: HashSet<&str> = [Scope::All, Scope::FilterNamespaces]
                .into_iter()
                .filter_map(|scope| {
                    let except = except.get(scope_slot(scope))?.as_ref()?;
                    Some(scopes.get(scope).by_namespace.keys().filter(move |ns| !except.contains(*ns)))
                })
                .flatten()
                .copied()
                .collect();
            let want: usize = listed.iter().filter_map(|ns| scopes.all.by_namespace.get(ns)).map(Vec::len).sum();
            let total = |scope: Scope| -> usize {
                scopes.get(scope).by_namespace.keys().filter_map(|ns| scopes.all.by_namespace.get(ns)).map(Vec::len).sum()
            };
            let full = FullNamespaces { scopes: &scopes, except: &except };
            prop_assert_eq!(full.clients(&[total(Scope::All), total(Scope::FilterNamespaces)]), want);
            for ns in NAMESPACES {
                prop_assert_eq!(full.contains(ns), listed.contains(ns), "{}", ns);
            }
        }
    }
}
