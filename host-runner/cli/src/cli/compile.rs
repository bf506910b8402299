//! `meshlock compile`: what each workload's proxy enforces, resolved once by the core
//! (docs/compiled-policy.md). The output is the filter's plugin configuration input.

use super::analysis::{Common, load, print_json};
use anyhow::{Context as _, Result, bail};
use clap::Args;
use meshlock_core::{Analysis, Severity};
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
    ensure_usable(a)?;
    if let Some(w) = &args.workload {
        let compiled = a.compile(w)?;
        print_json(&compiled)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = &args.out else {
        bail!("--all needs --out DIR");
    };
    let files = a.compile_inbound_all().into_iter().map(|c| Ok((c.workload.clone(), serde_json::to_vec(&c)?)));
    write_per_workload(out, "json", "meshlock compile", files)?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses input that cannot be enforced as written (a document that did not parse, a resource
/// with an invalid or missing field), printing its errors: what is compiled must be what the
/// user wrote.
pub(super) fn ensure_usable(a: &Analysis) -> Result<()> {
    if let Err(e) = a.usable() {
        for d in a.diagnostics().iter().filter(|d| d.severity == Severity::Error) {
            eprintln!("{d}");
        }
        bail!("the input cannot be enforced as written ({e}); nothing compiled");
    }
    Ok(())
}

/// Writes one file per workload, `OUT/NAMESPACE/NAME.EXT`, and reports how many, how large and
/// how long on stderr. A workload whose name is not a Kubernetes name (a hostile `../x`) is
/// skipped with a line, never turned into a path.
pub(super) fn write_per_workload(
    out: &Path,
    ext: &str,
    who: &str,
    files: impl Iterator<Item = Result<(String, Vec<u8>)>>,
) -> Result<()> {
    let started = Instant::now();
    let (mut written, mut total, mut largest) = (0usize, 0usize, (0usize, String::new()));
    for file in files {
        let (workload, bytes) = file?;
        let Some((ns, name)) = workload.split_once('/').filter(|(n, w)| safe_segment(n) && safe_segment(w)) else {
            eprintln!("{who}: skipped `{workload}`: not a Kubernetes name");
            continue;
        };
        let dir = out.join(ns);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
        total += bytes.len();
        if bytes.len() > largest.0 {
            largest = (bytes.len(), workload);
        }
    }
    eprintln!(
        "{who}: {written} file(s) into {} in {} ms; {total} bytes, largest {} bytes ({})",
        out.display(),
        started.elapsed().as_millis(),
        largest.0,
        largest.1
    );
    Ok(())
}

/// A Kubernetes name is a DNS label or subdomain; anything else is not turned into a path.
fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}
