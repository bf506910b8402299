//! `meshlock plan`: an ordered, proven migration to STRICT (docs/plan.md). The core computes
//! the plan; this writes the step files and prints the summary.

use super::analysis::{Common, Format, analyse_once, print_json};
use super::input;
use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use meshlock_core::Severity;
use meshlock_core::plan::{BlockKind, Goal, Plan, PlanOptions};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GoalArg {
    /// As much of the mesh STRICT as breaks no call that works today.
    Strict,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where to write the step files (`DIR/01-….yaml`, …); created if missing. Without it,
    /// only the summary is printed.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = GoalArg::Strict)]
    pub goal: GoalArg,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn plan(args: &PlanArgs) -> Result<ExitCode> {
    let sources = input::load(&args.common.paths)?;
    let a = analyse_once(&sources, &super::analysis::read_options(args.common.istio_version));
    if a.unreadable() > 0 || a.usable().is_err() {
        for d in a.diagnostics().iter().filter(|d| d.severity == Severity::Error) {
            eprintln!("{d}");
        }
    }
    if a.unreadable() > 0 {
        bail!("{} document(s) could not be parsed", a.unreadable());
    }
    let goal = match args.goal {
        GoalArg::Strict => Goal::Strict,
    };
    let plan = meshlock_core::plan::plan(a, &sources, &PlanOptions { goal })?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // Step files of an earlier plan would read as steps of this one: remove them first.
        for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(is_step_file) {
                std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
                eprintln!("meshlock plan: removed {} (a step file of an earlier plan)", path.display());
            }
        }
        for step in &plan.steps {
            let path = dir.join(&step.file);
            std::fs::write(&path, step_file(step)).with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    match args.format {
        Format::Json => print_json(&plan)?,
        Format::Text => print!("{}", text(&plan, args.out.as_ref())),
    }
    Ok(ExitCode::SUCCESS)
}

/// `NN-….yaml`, the name `meshlock plan` gives its step files.
fn is_step_file(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 8
        && b.first().is_some_and(u8::is_ascii_digit)
        && b.get(1).is_some_and(u8::is_ascii_digit)
        && b.get(2) == Some(&b'-')
        && name.ends_with(".yaml")
}

/// A step file: a header saying what it does and what it was proven to do, then the resources.
fn step_file(step: &meshlock_core::plan::Step) -> String {
    let mut out = format!("# Step {}: {}\n", step.number, step.title);
    let p = &step.proof;
    let _ = writeln!(
        out,
        "# Proof: of {} calls, {} break, {} lose encryption, {} gain it, {} are fixed (meshlock plan)",
        p.calls, p.breaks, p.decrypts, p.encrypts, p.fixes
    );
    for d in &step.deletes {
        let _ = writeln!(out, "# then: {d}");
    }
    out.push_str(&step.yaml);
    out
}

fn kind_text(k: &BlockKind) -> &'static str {
    match k {
        BlockKind::ClientsWithoutSidecar => "callers without a sidecar",
        BlockKind::DestinationRule => "a DestinationRule sends plaintext",
        BlockKind::Gateway => "a gateway",
        BlockKind::RootNamespace => "root namespace",
        BlockKind::SharedPolicy => "shares its PeerAuthentication",
        BlockKind::NoSelector => "no selector picks it out",
        BlockKind::Other => "other",
    }
}

/// Resources listed per step in the text.
const RESOURCES_LISTED: usize = 12;

/// Above this many blocked workloads, the text groups them by reason.
const BLOCKED_LISTED: usize = 20;

fn text(plan: &Plan, out: Option<&PathBuf>) -> String {
    let mut s = String::new();
    let (b, a) = (plan.coverage.before, plan.coverage.after);
    let _ = writeln!(
        s,
        "Istio {} · goal STRICT · {} step(s)\nSTRICT: {} of {} sidecar ports now, {} after the plan ({} of {} workloads fully STRICT now, {} after)\n",
        plan.istio_version,
        plan.steps.len(),
        b.strict_ports,
        b.sidecar_ports,
        a.strict_ports,
        b.strict_workloads,
        b.sidecar_workloads,
        a.strict_workloads
    );
    for step in &plan.steps {
        let where_ = out.map(|d| d.join(&step.file).display().to_string()).unwrap_or_else(|| step.file.clone());
        let _ = writeln!(s, "Step {} ({where_}): {}", step.number, step.title);
        for r in step.resources.iter().take(RESOURCES_LISTED) {
            let _ = writeln!(s, "  {} {}: {}", r.action, r.resource, r.change);
        }
        if step.resources.len() > RESOURCES_LISTED {
            let _ = writeln!(
                s,
                "  (and {} more resources; the step file has them all)",
                step.resources.len() - RESOURCES_LISTED
            );
        }
        for d in &step.deletes {
            let _ = writeln!(s, "  {d}");
        }
        let gains: Vec<String> = step
            .becomes_strict
            .iter()
            .map(|g| {
                if g.ports.is_empty() {
                    g.workload.clone()
                } else {
                    let ports: Vec<String> = g.ports.iter().map(u16::to_string).collect();
                    format!("{}:{}", g.workload, ports.join(","))
                }
            })
            .collect();
        if !gains.is_empty() {
            let shown: Vec<&str> = gains.iter().take(8).map(String::as_str).collect();
            let more = gains.len().saturating_sub(shown.len());
            let _ = writeln!(
                s,
                "  becomes STRICT: {}{}",
                shown.join(" "),
                if more > 0 { format!(" (and {more} more)") } else { String::new() }
            );
        }
        let p = &step.proof;
        let _ = writeln!(
            s,
            "  proof: {} calls compared: {} break, {} lose encryption; {} gain encryption, {} fixed, {} otherwise changed",
            p.calls, p.breaks, p.decrypts, p.encrypts, p.fixes, p.changes
        );
        for c in p.examples.iter().take(5) {
            let _ = writeln!(
                s,
                "    {} {} -> {} ({})",
                c.change,
                c.from,
                c.to.replacen(".svc.cluster.local", "", 1),
                c.to_workload
            );
        }
        s.push('\n');
    }
    if !plan.blocked.is_empty() {
        let _ = writeln!(s, "Cannot become STRICT yet ({} workloads):", plan.blocked.len());
        if plan.blocked.len() <= BLOCKED_LISTED {
            for bw in &plan.blocked {
                let ports: Vec<String> = bw.ports.iter().map(u16::to_string).collect();
                let at = if ports.is_empty() { String::new() } else { format!(" port {}", ports.join(",")) };
                let _ = writeln!(s, "  {}{at}", bw.workload);
                for r in &bw.reasons {
                    let callers = if r.examples.is_empty() {
                        String::new()
                    } else {
                        format!(" [{} caller(s), e.g. {}]", r.callers, r.examples.join(", "))
                    };
                    let _ = writeln!(s, "    {}: {}{callers}", kind_text(&r.kind), r.detail);
                    let _ = writeln!(s, "    to unblock: {}", r.unblock);
                }
            }
        } else {
            // Per kind of reason: how many workloads have one, and the first as an example.
            let mut by_kind: std::collections::BTreeMap<&str, (std::collections::BTreeSet<&str>, String)> =
                std::collections::BTreeMap::new();
            for bw in &plan.blocked {
                for r in &bw.reasons {
                    let e = by_kind.entry(kind_text(&r.kind)).or_default();
                    e.0.insert(bw.workload.as_str());
                    if e.1.is_empty() {
                        e.1 = format!("{}: {}; to unblock: {}", bw.workload, r.detail, r.unblock);
                    }
                }
            }
            for (kind, (workloads, example)) in by_kind {
                let _ = writeln!(s, "  {} workload(s): {kind}, e.g. {example}", workloads.len());
            }
            s.push_str("  (--format json lists every workload with its reasons)\n");
        }
        s.push('\n');
    }
    for n in &plan.notes {
        let _ = writeln!(s, "Note: {n}");
    }
    let c = &plan.cost;
    let _ = writeln!(
        s,
        "Checked: {} search round(s), {} whole-mesh comparisons, {} class calls standing for {} calls",
        c.search_rounds, c.checks, c.class_evaluations, c.calls_compared
    );
    s
}
