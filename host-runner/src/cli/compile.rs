//! `meshlock compile`: what each workload's proxy enforces, resolved once by the core
//! (docs/compiled-policy.md). The output is the filter's plugin configuration input.

use super::analysis::{Common, load};
use super::envoy::safe_segment;
use anyhow::{Context as _, Result, bail};
use clap::Args;
use meshlock_core::Severity;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct CompileArgs {
    #[command(flatten)]
    pub common: Common,
    /// The workload (NAMESPACE/NAME): its compiled policy, both directions, on stdout.
    #[arg(long, value_name = "NS/NAME", conflicts_with = "all", required_unless_present = "all")]
    pub workload: Option<String>,
    /// Every workload: DIR/NAMESPACE/NAME.json, the inbound part (what an inbound filter gets).
    #[arg(long, requires = "out")]
    pub all: bool,
    /// Where `--all` writes.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn compile(args: &CompileArgs) -> Result<ExitCode> {
    let a = load(&args.common, &args.common.paths)?;
    // A resource that could not be read as written would silently weaken what is enforced.
    if let Some(d) = a.input_error() {
        for d in a.diagnostics().iter().filter(|d| d.severity == Severity::Error) {
            eprintln!("{d}");
        }
        bail!("the input has errors ({}:{}:{}); nothing compiled", d.file, d.line, d.column);
    }
    if let Some(w) = &args.workload {
        let compiled = a.compile(w)?;
        println!("{}", serde_json::to_string_pretty(&compiled)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = &args.out else {
        bail!("--all needs --out DIR");
    };
    let started = Instant::now();
    let (mut written, mut total, mut largest) = (0usize, 0u64, (0u64, String::new()));
    for compiled in a.compile_inbound_all() {
        let Some((ns, name)) = compiled.workload.split_once('/').filter(|(n, w)| safe_segment(n) && safe_segment(w))
        else {
            eprintln!("meshlock compile: skipped `{}`: not a Kubernetes name", compiled.workload);
            continue;
        };
        let dir = out.join(ns);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let json = serde_json::to_vec(&compiled)?;
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, &json).with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
        total += json.len() as u64;
        if json.len() as u64 > largest.0 {
            largest = (json.len() as u64, compiled.workload.clone());
        }
    }
    eprintln!(
        "meshlock compile: {written} workload(s) into {} in {} ms; {total} bytes, largest {} bytes ({})",
        display(out),
        started.elapsed().as_millis(),
        largest.0,
        largest.1
    );
    Ok(ExitCode::SUCCESS)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
