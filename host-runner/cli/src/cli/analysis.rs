//! `analyze`, `reach`, `explain`, `diff`, `convert`: read YAML, ask the core, print.

use super::{input, render};
use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use meshlock_core::reach::ReachFilter;
use meshlock_core::{Analysis, IstioVersion, Options, Severity, Source};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `analyze` also speaks SARIF: its output is diagnostics, what code scanning annotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Files or directories of YAML/JSON (`-` reads stdin).
    pub paths: Vec<PathBuf>,
    /// The Istio version whose behaviour to reproduce (e.g. 1.4, 1.5, 1.28). Default: the newest,
    /// or 1.5 when the input holds v1alpha1 MeshPolicy/Policy.
    #[arg(long, value_name = "V")]
    pub istio_version: Option<IstioVersion>,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub common: Common,
    /// The output format (`-o json` as kubectl and istioctl spell it; `--format` too). `sarif`
    /// is SARIF 2.1.0 for code scanning (docs/sarif.md).
    #[arg(short = 'o', long = "output", visible_alias = "format", value_name = "FORMAT", value_enum, default_value_t = AnalyzeFormat::Text)]
    pub format: AnalyzeFormat,
}

/// How `reach` and `diff` answer for a large mesh (docs/reach.md, "The CLI").
#[derive(Debug, Args)]
pub struct SizeArgs {
    /// Only calls from or to this namespace; repeatable.
    #[arg(long, value_name = "NS")]
    pub namespace: Vec<String>,
    /// The summary by namespace pair and by failure cause, whatever the size (text and JSON).
    #[arg(long, conflicts_with = "full")]
    pub summary: bool,
    /// Every call, whatever the size (for `diff`, JSON too).
    #[arg(long)]
    pub full: bool,
}

/// Which calls: `--from` and `--to`, checked against the input by [`Calls::check`].
#[derive(Debug, Args)]
pub struct Calls {
    /// Only calls from this workload (NAMESPACE/NAME); repeatable.
    #[arg(long, value_name = "NS/NAME")]
    pub from: Vec<String>,
    /// Only calls to this service (HOST[:PORT], HOST an FQDN or name.namespace); repeatable.
    /// `reach` exits 1 if any of these calls fails.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub to: Vec<String>,
}

impl Calls {
    /// Every `--from` is a workload of the input and every `--to` one of its services.
    pub fn check(&self, a: &Analysis) -> Result<()> {
        for f in &self.from {
            a.workload(f)?;
        }
        for t in &self.to {
            let host =
                t.rsplit_once(':').map_or(t.as_str(), |(h, p)| if p.parse::<u16>().is_ok() { h } else { t.as_str() });
            if a.find_service(host).is_none() {
                bail!("--to {t}: no service `{host}` in the input (give an FQDN or name.namespace)");
            }
        }
        Ok(())
    }

    pub fn filter(&self) -> ReachFilter {
        ReachFilter { from: self.from.clone(), to: self.to.clone(), ..ReachFilter::default() }
    }
}

#[derive(Debug, Args)]
pub struct ReachArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub calls: Calls,
    #[command(flatten)]
    pub size: SizeArgs,
    /// The output format (`-o json` as kubectl and istioctl spell it; `--format` too).
    #[arg(short = 'o', long = "output", visible_alias = "format", value_name = "FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub common: Common,
    /// The workload (NAMESPACE/NAME).
    #[arg(long, value_name = "NS/NAME")]
    pub workload: String,
    /// Only this workload (container) port.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// The output format (`-o json` as kubectl and istioctl spell it; `--format` too).
    #[arg(short = 'o', long = "output", visible_alias = "format", value_name = "FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The YAML as it is now (file or directory).
    #[arg(long, value_name = "PATH", required = true)]
    pub before: Vec<PathBuf>,
    /// The YAML as it would be.
    #[arg(long, value_name = "PATH", required = true)]
    pub after: Vec<PathBuf>,
    #[arg(long, value_name = "V")]
    pub istio_version: Option<IstioVersion>,
    #[command(flatten)]
    pub size: SizeArgs,
    /// The output format (`-o json` as kubectl and istioctl spell it; `--format` too).
    #[arg(short = 'o', long = "output", visible_alias = "format", value_name = "FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub common: Common,
}

/// The options of every command that reads input: the Istio version asked for, and every core
/// this machine gives the process to read a large cluster dump with.
pub(super) fn read_options(istio_version: Option<IstioVersion>) -> Options {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    Options { istio_version, threads }
}

/// Analyses `sources` for the command this process runs. The analysis lives until the process
/// exits, and is never dropped: every command runs once and exits, and freeing a cluster's
/// analysis object by object (millions of strings, maps and vectors) took about a tenth of a
/// large run, for memory the exit returns anyway.
pub(super) fn analyse_once(sources: &[Source], options: &Options) -> &'static Analysis {
    Box::leak(Box::new(Analysis::new(sources, options)))
}

/// Loads and analyses; `Err` (exit 2) when a document could not be parsed at all.
pub(super) fn load(common: &Common, paths: &[PathBuf]) -> Result<&'static Analysis> {
    let sources = input::load(paths)?;
    let analysis = analyse_once(&sources, &read_options(common.istio_version));
    if analysis.unreadable() > 0 {
        for d in analysis.diagnostics().iter().filter(|d| d.severity == Severity::Error) {
            eprintln!("{d}");
        }
        bail!("{} document(s) could not be parsed", analysis.unreadable());
    }
    Ok(analysis)
}

/// Pretty JSON written straight to stdout: a cluster's report is hundreds of megabytes of text,
/// which is not also held in memory as one string.
pub(super) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

pub fn analyze(args: &AnalyzeArgs) -> Result<ExitCode> {
    let a = load(&args.common, &args.common.paths)?;
    match args.format {
        // Built while it is written: a cluster's report is not held whole.
        AnalyzeFormat::Json => print_json(&a.analyze_streamed())?,
        AnalyzeFormat::Text => print!("{}", render::analyze(a, &a.analyze())),
        AnalyzeFormat::Sarif => {
            let cwd = std::env::current_dir().unwrap_or_default();
            print_json(&meshlock_cli::sarif::log(a.diagnostics(), &cwd))?;
        }
    }
    Ok(if a.has_errors() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn reach(args: &ReachArgs) -> Result<ExitCode> {
    let a = load(&args.common, &args.common.paths)?;
    args.calls.check(a)?;
    for ns in &args.size.namespace {
        if !a.workload_views().iter().any(|w| w.namespace() == ns) && !a.services().iter().any(|s| &s.namespace == ns) {
            bail!("--namespace {ns}: no workload or service in that namespace");
        }
    }
    let filter = ReachFilter { namespaces: args.size.namespace.clone(), ..args.calls.filter() };
    let failing = if args.size.summary {
        let summary = meshlock_core::reach::summarize_streamed(a, &filter, SUMMARY_EXAMPLES);
        match args.format {
            Format::Json => print_json(&summary)?,
            Format::Text => print!("{}", render::reach_summary(&summary, true)),
        }
        summary.counts.failing
    } else {
        // Counted in linear time first: the listing of a large mesh is millions of rows.
        let counts = a.reach_counts(&filter);
        match args.format {
            Format::Json => stream_calls_json(a, &filter, counts.total)?,
            Format::Text if !args.size.full && counts.total > LISTING_LIMIT => {
                let summary = meshlock_core::reach::summarize_streamed(a, &filter, SUMMARY_EXAMPLES);
                print!("{}", render::reach_summary(&summary, false));
            }
            Format::Text => print!("{}", render::reach(&a.reach(&filter))),
        }
        counts.failing
    };
    Ok(if !args.calls.to.is_empty() && failing > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Above this many calls the text of `reach` and `diff` is a summary: a clients × services
/// matrix of that size is not readable.
const LISTING_LIMIT: u64 = 2_500;
/// Calls shown per failure cause in a summary.
const SUMMARY_EXAMPLES: usize = 3;

/// `{"total": N, "calls": [...]}` written call by call: constant memory for any mesh size, and
/// the reader knows how many calls follow before they come.
fn stream_calls_json(a: &Analysis, filter: &ReachFilter, total: u64) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut first = true;
    let mut result: std::io::Result<()> = write!(out, "{{\"total\": {total}, \"calls\": [");
    meshlock_core::reach::for_each_call(a, filter, |c| {
        if result.is_err() {
            return;
        }
        let sep: &[u8] = if first { b"\n  " } else { b",\n  " };
        first = false;
        result = out.write_all(sep).and_then(|()| serde_json::to_writer(&mut out, &c).map_err(std::io::Error::other));
    });
    result?;
    out.write_all(if first { b"]}\n" } else { b"\n]}\n" })?;
    out.flush()?;
    Ok(())
}

pub fn explain(args: &ExplainArgs) -> Result<ExitCode> {
    let a = load(&args.common, &args.common.paths)?;
    let e = a.explain(&args.workload, args.port)?;
    match args.format {
        Format::Json => print_json(&e)?,
        Format::Text => print!("{}", render::explain(&e)),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn diff(args: &DiffArgs) -> Result<ExitCode> {
    let common = Common { paths: Vec::new(), istio_version: args.istio_version };
    let before = load(&common, &args.before)?;
    let after = load(&common, &args.after)?;
    let filter = ReachFilter { namespaces: args.size.namespace.clone(), ..ReachFilter::default() };
    let total = before.reach_counts(&filter).total.max(after.reach_counts(&filter).total);
    if args.size.summary || (!args.size.full && total > LISTING_LIMIT) {
        let report = meshlock_core::diff::diff_summary(before, after, &filter, SUMMARY_EXAMPLES);
        match args.format {
            Format::Json => print_json(&report)?,
            Format::Text => print!("{}", render::diff_summary(&report)),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = meshlock_core::diff::diff(before, after, &filter);
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Text => print!("{}", render::diff(&report)),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn convert(args: &ConvertArgs) -> Result<ExitCode> {
    let sources = input::load(&args.common.paths)?;
    let out = meshlock_core::convert::convert(&sources);
    for d in &out.diagnostics {
        eprintln!("{d}");
    }
    if out.unreadable > 0 {
        bail!("{} document(s) could not be parsed", out.unreadable);
    }
    print!("{}", out.yaml);
    Ok(if out.diagnostics.iter().any(|d| d.severity == Severity::Error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
