//! Readable text for the terminal: aligned tables, a reachability matrix, stories.

use meshlock_core::Analysis;
use meshlock_core::diff::SummaryDiff;
use meshlock_core::reach::{ReachCounts, StreamedSummary};
use meshlock_core::report::{AnalyzeReport, Call, ChangeKind, DiffReport, Effect, Explanation, Outcome, ReachReport};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let mut s = String::new();
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let _ = write!(s, "{c:<w$}");
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied(), &mut out);
    for r in rows {
        line(&mut r.iter().map(String::as_str), &mut out);
    }
    out
}

pub fn analyze(a: &Analysis, r: &AnalyzeReport) -> String {
    let mc = a.mesh_config();
    let mut out = format!(
        "Istio {} · root namespace {} · trust domain {}{} · auto mTLS {}\n\n",
        r.istio_version,
        mc.root_namespace,
        mc.trust_domain,
        if mc.trust_domain_aliases.is_empty() {
            String::new()
        } else {
            format!(" (aliases {})", mc.trust_domain_aliases.join(", "))
        },
        if a.auto_mtls() { "on" } else { "off" }
    );
    let mut rows = Vec::new();
    for w in &r.workloads {
        let name = format!("{}/{}", w.namespace, w.name);
        if !w.sidecar {
            rows.push(vec![name, "no".to_owned(), "*".to_owned(), "NONE".to_owned(), w.sidecar_reason.clone()]);
            continue;
        }
        if w.ports.is_empty() {
            rows.push(vec![name, "yes".to_owned(), "*".to_owned(), w.mode.clone(), "no ports known".to_owned()]);
            continue;
        }
        for p in &w.ports {
            let decided = p
                .chain
                .iter()
                .rev()
                .find(|e| e.effect == Effect::Applied)
                .map(|e| format!("{} ({})", e.policy, e.level))
                .unwrap_or_default();
            rows.push(vec![name.clone(), "yes".to_owned(), p.port.to_string(), p.mode.clone(), decided]);
        }
    }
    out.push_str(&table(&["WORKLOAD", "SIDECAR", "PORT", "MODE", "DECIDED BY"], &rows));
    if !r.diagnostics.is_empty() {
        out.push_str("\nDiagnostics:\n");
        for d in &r.diagnostics {
            let _ = writeln!(out, "{d}");
        }
    }
    let count = |s: meshlock_core::Severity| r.diagnostics.iter().filter(|d| d.severity == s).count();
    let _ = writeln!(
        out,
        "\n{} workloads, {} services; {} errors, {} warnings, {} info",
        r.workloads.len(),
        r.services.len(),
        count(meshlock_core::Severity::Error),
        count(meshlock_core::Severity::Warning),
        count(meshlock_core::Severity::Info)
    );
    out
}

fn short_host(to: &str) -> String {
    // httpbin.foo.svc.cluster.local:8000 → httpbin.foo:8000
    to.replacen(".svc.cluster.local", "", 1)
}

fn cell(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Mtls => "mTLS",
        Outcome::Plaintext => "plain",
        Outcome::Fails => "FAIL",
    }
}

/// The matrix of clients × destinations, then every failing call with its symptom.
pub fn reach(r: &ReachReport) -> String {
    if r.calls.is_empty() {
        return "no calls: the input has no client workload and service endpoint pairs\n".to_owned();
    }
    let mut dests: Vec<String> = Vec::new();
    let mut grid: BTreeMap<(String, bool), BTreeMap<String, Vec<&Call>>> = BTreeMap::new();
    for c in &r.calls {
        let dest = match &c.subset {
            Some(s) => format!("{} [{s}]", short_host(&c.to)),
            None => short_host(&c.to),
        };
        if !dests.contains(&dest) {
            dests.push(dest.clone());
        }
        grid.entry((c.from.clone(), c.from_sidecar)).or_default().entry(dest).or_default().push(c);
    }
    let mut header = vec!["FROM \\ TO".to_owned()];
    header.extend(dests.iter().cloned());
    let mut rows = Vec::new();
    for ((from, sidecar), cells) in &grid {
        let mut row = vec![format!("{from}{}", if *sidecar { "" } else { " (no sidecar)" })];
        for d in &dests {
            let v = match cells.get(d) {
                None => "-".to_owned(),
                Some(calls) => {
                    let mut kinds: Vec<&str> = calls.iter().map(|c| cell(c.outcome)).collect();
                    kinds.dedup();
                    kinds.join("/")
                }
            };
            row.push(v);
        }
        rows.push(row);
    }
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = table(&header_refs, &rows);
    out.push_str("\nmTLS = encrypted and authenticated, plain = plaintext accepted, FAIL = the call fails\n");
    let failing: Vec<&Call> = r.calls.iter().filter(|c| c.outcome == Outcome::Fails).collect();
    if !failing.is_empty() {
        out.push_str("\nFailing calls:\n");
        for c in &failing {
            let _ = writeln!(
                out,
                "  {} -> {} ({}{}:{}) client {} via {}, server {}\n    {}",
                c.from,
                short_host(&c.to),
                c.to_workload,
                c.subset.as_ref().map(|s| format!(" subset {s}")).unwrap_or_default(),
                c.target_port,
                c.client_tls,
                c.client_tls_source,
                c.server_mode,
                c.symptom.as_deref().unwrap_or("")
            );
        }
    }
    let ok = r.calls.iter().filter(|c| c.outcome.ok()).count();
    let mtls = r.calls.iter().filter(|c| c.outcome == Outcome::Mtls).count();
    let _ = writeln!(out, "\n{} calls: {ok} succeed ({mtls} over mTLS), {} fail", r.calls.len(), failing.len());
    out
}

pub fn explain(e: &Explanation) -> String {
    let mut out = String::new();
    for para in &e.story {
        let _ = writeln!(out, "{para}\n");
    }
    for p in &e.workload.ports {
        let _ = writeln!(out, "Port {} — {}", p.port, p.mode);
        let rows: Vec<Vec<String>> = p
            .chain
            .iter()
            .map(|c| {
                let at = match (&c.file, c.line) {
                    (Some(f), Some(l)) => format!("{f}:{l}"),
                    _ => String::new(),
                };
                vec![
                    c.level.to_string(),
                    c.policy.to_string(),
                    c.declared.clone(),
                    c.effect.to_string(),
                    at,
                    c.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(&["LEVEL", "POLICY", "DECLARED", "EFFECT", "AT", "WHY"], &rows));
        out.push('\n');
    }
    if !e.inbound.is_empty() {
        out.push_str("Callers:\n");
        for c in &e.inbound {
            let _ = writeln!(out, "  {} {} — {}", cell(c.outcome), c.from, c.explanation);
            if let Some(v) = &c.verifies {
                let sans = if v.accepted_sans.is_empty() {
                    "any mesh certificate".to_owned()
                } else {
                    v.accepted_sans.join(", ")
                };
                let _ = writeln!(out, "      the client sends SNI {} and accepts {sans}", v.sni);
            }
        }
    }
    out
}

pub fn diff(r: &DiffReport) -> String {
    if r.changes.is_empty() {
        return "no call changes its outcome or encryption\n".to_owned();
    }
    let rows: Vec<Vec<String>> = r
        .changes
        .iter()
        .map(|c| {
            let o = |x: &Option<meshlock_core::report::CallOutcome>| match x {
                None => "-".to_owned(),
                Some(o) => format!("{} ({} → {})", cell(o.outcome), o.client_tls, o.server_mode),
            };
            vec![
                c.change.to_string().to_uppercase(),
                c.from.clone(),
                format!("{} ({})", short_host(&c.to), c.to_workload),
                o(&c.before),
                o(&c.after),
            ]
        })
        .collect();
    let mut out = table(&["CHANGE", "FROM", "TO", "BEFORE", "AFTER"], &rows);
    let breaks = r.changes.iter().filter(|c| c.change == ChangeKind::Breaks).count();
    let _ = writeln!(out, "\n{} calls change; {breaks} break", r.changes.len());
    out
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Rows of a summary table before "… N more".
const SUMMARY_ROWS: usize = 25;

fn counts_line(c: &ReachCounts) -> String {
    format!("{} calls: {} over mTLS, {} plaintext, {} fail", c.total, c.mtls, c.plaintext, c.failing)
}

fn counts_cells(c: &ReachCounts) -> [String; 4] {
    [c.total.to_string(), c.mtls.to_string(), c.plaintext.to_string(), c.failing.to_string()]
}

fn more(out: &mut String, shown: usize, all: usize, what: &str) {
    if all > shown {
        let _ = writeln!(out, "  … {} more {what} (-o json --summary lists them all)", all - shown);
    }
}

/// `reach` of a large mesh: the namespace pairs, the failing ones first, then the failing calls
/// grouped by cause with a few examples each.
pub fn reach_summary(s: &StreamedSummary<'_>, asked: bool) -> String {
    let mut out = if asked {
        format!("{}\n\n", counts_line(&s.counts))
    } else {
        format!(
            "{} — too many to list: a summary by namespace and by cause follows. Narrow it with --from, --to or \
             --namespace, or ask for everything with --full (text) or -o json (streamed).\n\n",
            counts_line(&s.counts)
        )
    };
    let ranked = s.namespaces.most_failing(SUMMARY_ROWS, |_, _, _| true);
    let rows: Vec<Vec<String>> = ranked
        .top
        .iter()
        .map(|(from, to, counts)| {
            let mut row = vec![(*from).to_owned(), (*to).to_owned()];
            row.extend(counts_cells(counts));
            row
        })
        .collect();
    let _ = writeln!(out, "Namespaces (client → service), the most failing calls first:");
    out.push_str(&table(&["FROM", "TO", "CALLS", "MTLS", "PLAIN", "FAIL"], &rows));
    more(&mut out, rows.len(), ranked.all, "namespace pairs");
    if s.failures.is_empty() {
        out.push_str("\nNo call fails.\n");
        return out;
    }
    let _ = writeln!(out, "\nFailing calls by cause, the most first:");
    for g in s.failures.iter().take(SUMMARY_ROWS) {
        let _ = writeln!(
            out,
            "  {} from {} to {}: {}",
            plural(g.calls, "call"),
            plural(g.clients, "client"),
            plural(g.services, "service"),
            g.cause
        );
        for c in &g.examples {
            let _ = writeln!(
                out,
                "    e.g. {} -> {} ({}:{}): {}",
                c.from,
                short_host(&c.to),
                c.to_workload,
                c.target_port,
                c.symptom.as_deref().unwrap_or("")
            );
        }
    }
    more(&mut out, SUMMARY_ROWS.min(s.failures.len()), s.failures.len(), "causes");
    out
}

/// `diff` of two large meshes: net changes per namespace pair and per failure cause.
pub fn diff_summary(d: &SummaryDiff) -> String {
    let mut out = format!(
        "before: {}\nafter:  {}\n(net counts per namespace pair and cause: narrow with --namespace, or --full for every call)\n\n",
        counts_line(&d.before),
        counts_line(&d.after)
    );
    if d.namespaces.is_empty() && d.failures.is_empty() {
        out.push_str("no namespace pair and no failure cause changes\n");
        return out;
    }
    let delta = |b: u64, a: u64| {
        if a >= b { format!("+{}", a - b) } else { format!("-{}", b - a) }
    };
    let rows: Vec<Vec<String>> = d
        .namespaces
        .iter()
        .take(SUMMARY_ROWS)
        .map(|c| {
            vec![
                c.from.clone(),
                c.to.clone(),
                format!("{} → {} ({})", c.before.failing, c.after.failing, delta(c.before.failing, c.after.failing)),
                format!("{} → {} ({})", c.before.mtls, c.after.mtls, delta(c.before.mtls, c.after.mtls)),
                format!(
                    "{} → {} ({})",
                    c.before.plaintext,
                    c.after.plaintext,
                    delta(c.before.plaintext, c.after.plaintext)
                ),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(out, "Namespace pairs that change, the most newly failing first:");
        out.push_str(&table(&["FROM", "TO", "FAIL", "MTLS", "PLAIN"], &rows));
        more(&mut out, rows.len(), d.namespaces.len(), "namespace pairs");
    }
    if !d.failures.is_empty() {
        let _ = writeln!(out, "\nFailure causes that change:");
        for f in d.failures.iter().take(SUMMARY_ROWS) {
            let _ = writeln!(out, "  {} → {} calls ({}): {}", f.before, f.after, delta(f.before, f.after), f.cause);
            for c in &f.examples {
                let _ = writeln!(out, "    e.g. {} -> {} ({})", c.from, short_host(&c.to), c.to_workload);
            }
        }
        more(&mut out, SUMMARY_ROWS.min(d.failures.len()), d.failures.len(), "causes");
    }
    let breaks = d.after.failing.saturating_sub(d.before.failing);
    let _ = writeln!(out, "\nnet: {breaks} more failing calls");
    out
}
