//! `simulate`: the mesh on loopback, every call reach lists driven through real sidecars,
//! predicted beside observed (docs/simulate.md).

use super::analysis::{Calls, Common, load};
use anyhow::Result;
use clap::Args;
use meshlock_proxy_host::FilterModule;
use meshlock_testbed::simulate::{SimulateError, SimulateOptions, SimulateReport, simulate as run};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Above this many calls only the differences and the calls not simulated are listed.
const LIST_ALL: usize = 2_500;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub calls: Calls,
    /// Drive at most this many calls.
    #[arg(long, default_value_t = meshlock_testbed::simulate::MAX_CALLS)]
    pub max_calls: usize,
    /// Stop driving calls after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub timeout: u64,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Listen on consecutive ports of 127.0.0.1 from this one (default: any free ports).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub base_port: u16,
    /// List every call, whatever the number.
    #[arg(long)]
    pub full: bool,
    /// The filter module (default: the wasm32-unknown-unknown release-wasm build).
    #[arg(long, value_name = "PATH.wasm")]
    pub filter: Option<PathBuf>,
}

pub fn simulate(args: &SimulateArgs) -> Result<ExitCode> {
    let analysis = load(&args.common, &args.common.paths)?;
    // Exit 2 before anything starts: an unknown client or destination.
    args.calls.check(analysis)?;
    let wasm = meshlock_testbed::locate_filter(args.filter.as_deref()).map_err(anyhow::Error::msg)?;
    let module = FilterModule::from_file(&wasm)?;
    let options = SimulateOptions {
        filter: args.calls.filter(),
        max_calls: args.max_calls,
        deadline: Duration::from_secs(args.timeout),
        parallel: args.parallel,
        base_port: args.base_port,
        tamper: None,
    };
    let report = match run(analysis, &module, &options) {
        Ok(r) => r,
        Err(e @ (SimulateError::Input(_) | SimulateError::Bind { .. })) => {
            eprintln!("meshlock simulate: {e} (nothing left running)");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    print!("{}", render(&report, args.full));
    Ok(if report.disagreements() == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The side-by-side listing and the summary line.
pub fn render(report: &SimulateReport, full: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let all = full || report.rows.len() <= LIST_ALL;
    let _ = writeln!(out, "{:<28} {:<46} {:<28} {:<32} {:<32}", "FROM", "TO", "ENDPOINT", "PREDICTED", "OBSERVED");
    for row in &report.rows {
        let (observed, mark) = match (&row.observed, row.agrees()) {
            (Ok(o), Some(true)) => (o.outcome.to_string(), String::new()),
            (Ok(o), _) => (o.outcome.to_string(), format!("  DIFFERS: {}", o.detail)),
            (Err(why), _) => ("-".to_owned(), format!("  not simulated: {why}")),
        };
        if !all && mark.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{:<28} {:<46} {:<28} {:<32} {:<32}{mark}",
            row.call.from,
            row.call.to,
            row.call.to_workload,
            row.predicted.to_string(),
            observed
        );
        // A failing call: reach's symptom above what the sidecars answered.
        if let (Some(symptom), Ok(o)) = (&row.call.symptom, &row.observed) {
            let _ = writeln!(out, "    reach:    {symptom}");
            let _ = writeln!(out, "    observed: {}", if o.detail.is_empty() { "200 from the app" } else { &o.detail });
        }
    }
    let simulated = report.simulated();
    let differ = report.disagreements();
    let _ = writeln!(
        out,
        "\n{} calls: {simulated} simulated ({} agree, {differ} differ), {} not simulated, {} not driven (bounds); \
         {} listeners on 127.0.0.1; set up in {} ms, calls driven in {} ms",
        report.rows.len().saturating_add(report.not_driven),
        simulated.saturating_sub(differ),
        report.rows.len().saturating_sub(simulated),
        report.not_driven,
        report.listeners,
        report.setup.as_millis(),
        report.drive.as_millis()
    );
    out
}
