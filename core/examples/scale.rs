//! The engine at scale, for `scripts/bench.sh` (BENCHMARKS.md, "Engine at scale"):
//!
//! * `scale gen N FILE [FORM]`: writes the synthetic mesh of N services (`meshlock_core::synth`)
//!   in one of the forms `docs` (default: `---` documents), `list-yaml`, `list-json` (one
//!   `kind: List`, as `kubectl get -o yaml|json` prints), `dump-yaml`, `dump-json` (the same
//!   List with every object as a cluster returns it: managedFields, status, Pods, ReplicaSets,
//!   Events, ConfigMaps, Secrets).
//! * `scale run FILE RUNS [FORM]`: reading on the machine's cores as the CLI does
//!   (`SCALE_THREADS=1`: on one thread, as the playground does), loads (parse + index), analyses (the report, serialised to JSON as
//!   the CLI writes it, built while it is written) and counts the full reach of FILE, RUNS times, and
//!   prints one JSON line: the median of each step, the calls, and the process's peak RSS (at the
//!   end; after the first run, what one `meshlock analyze` process reaches; and after load +
//!   analyze: what `meshlock analyze` holds). The
//!   reach summary (`reach_summary`: namespace pairs and failures by cause, what `meshlock reach`
//!   prints at cluster size) is timed on its own.
//!
//! * `scale plan FILE RUNS`: loads FILE once per run and times `analyze` (the report, as above)
//!   and `plan` (`meshlock_core::plan`: the search, the steps and their proofs) on the same
//!   analysis, and prints one JSON line with the medians, the steps and the STRICT coverage.
//!
//! `scripts/bench/engine-wasm.mjs` does the same through the playground's wasm build in Node.

#![forbid(unsafe_code)]
#![expect(clippy::print_stdout, reason = "the example's output is its JSON line")]

use meshlock_core::reach::ReachFilter;
use meshlock_core::synth::{DumpFormat, MeshShape, generate, generate_dump};
use meshlock_core::{Analysis, Options, Source};
use std::time::Instant;

/// The heap the `meshlock` CLI runs on, so these figures are the CLI's.
#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The CLI's options: every core the machine gives the process, or `SCALE_THREADS` of them (1
/// measures the one-thread reading the playground does).
fn read_options() -> Options {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let threads = std::env::var("SCALE_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(cores);
    Options { threads, ..Options::default() }
}

/// A writer that keeps only the number of bytes written.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process's peak resident set (VmHWM), KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["gen", n, file] => {
            std::fs::write(file, generate(&MeshShape::new(n.parse()?)))?;
        }
        ["gen", n, file, form] => {
            let shape = MeshShape::new(n.parse()?);
            let text = match *form {
                "docs" => generate(&shape),
                "list-yaml" => generate_dump(&shape, false, DumpFormat::ListYaml),
                "list-json" => generate_dump(&shape, false, DumpFormat::ListJson),
                "dump-yaml" => generate_dump(&shape, true, DumpFormat::ListYaml),
                "dump-json" => generate_dump(&shape, true, DumpFormat::ListJson),
                other => return Err(format!("unknown form {other}").into()),
            };
            std::fs::write(file, text)?;
        }
        ["run", file, runs] | ["run", file, runs, _] => {
            let form = args.get(3).map_or("docs", String::as_str).to_owned();
            let yaml_bytes = std::fs::metadata(file)?.len();
            let runs: usize = runs.parse()?;
            let options = read_options();
            let (mut load, mut analyze, mut reach, mut summary) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut drops = Vec::new();
            let mut facts = (0, 0, 0, 0, 0);
            let mut peak_analyze = 0;
            let mut first_run_peak = 0;
            for _ in 0..runs.max(1) {
                // The text is read anew each run and dropped once loaded, as the CLI does.
                let text = std::fs::read_to_string(file)?;
                let t = Instant::now();
                let a = Analysis::new(&[Source::new(*file, text)], &options);
                load.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                // As `meshlock analyze --format json` does: the report written, pretty, as it is
                // built.
                let mut json = ByteCount(0);
                serde_json::to_writer_pretty(&mut json, &a.analyze_streamed())?;
                analyze.push(t.elapsed().as_secs_f64() * 1e3);
                // What `meshlock analyze` holds at its peak: the analysis, the text while it is read.
                peak_analyze = peak_analyze.max(peak_rss_kib());
                let t = Instant::now();
                let counts = a.reach_counts(&ReachFilter::default());
                reach.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                // What `meshlock reach --summary -o json` writes, streamed as the CLI does.
                let mut text = ByteCount(0);
                serde_json::to_writer(
                    &mut text,
                    &meshlock_core::reach::summarize_streamed(&a, &ReachFilter::default(), 3),
                )?;
                summary.push(t.elapsed().as_secs_f64() * 1e3);
                std::hint::black_box(text.0);
                let services = a.services().iter().filter(|s| !s.mesh_external).count();
                facts = (a.workload_views().len(), services, counts.total, json.0, a.unreadable());
                // What freeing the analysis costs (the CLI exits instead).
                let t = Instant::now();
                drop(a);
                drops.push(t.elapsed().as_secs_f64() * 1e3);
                // The CLI's case: one run in a fresh process (later runs find memory the
                // allocator kept from earlier ones, and the process's peak includes theirs).
                if first_run_peak == 0 {
                    first_run_peak = peak_rss_kib();
                }
            }
            let (workloads, services, calls, report_bytes, unreadable) = facts;
            println!(
                "{}",
                serde_json::json!({
                    "target": "native",
                    "threads": options.threads,
                    "form": form,
                    "yaml_bytes": yaml_bytes,
                    "workloads": workloads,
                    "services": services,
                    "calls": calls,
                    "report_bytes": report_bytes,
                    "runs": runs,
                    "load_ms": median(load),
                    "analyze_ms": median(analyze),
                    "reach_ms": median(reach),
                    "summary_ms": median(summary),
                    "drop_ms": median(drops),
                    "peak_rss_kib": peak_rss_kib(),
                    "peak_rss_first_run_kib": first_run_peak,
                    "peak_rss_analyze_kib": peak_analyze,
                    "unreadable": unreadable,
                })
            );
        }
        ["plan", file, runs] => {
            let text = std::fs::read_to_string(file)?;
            let sources = [Source::new(*file, text.clone())];
            let (mut load, mut analyze, mut plan_ms) = (Vec::new(), Vec::new(), Vec::new());
            let mut last = None;
            let runs: usize = runs.parse()?;
            for _ in 0..runs.max(1) {
                let t = Instant::now();
                let a = Analysis::new(&sources, &Options::default());
                load.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                std::hint::black_box(serde_json::to_string(&a.analyze())?);
                analyze.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let p = meshlock_core::plan::plan(&a, &sources, &meshlock_core::plan::PlanOptions::default())?;
                plan_ms.push(t.elapsed().as_secs_f64() * 1e3);
                last = Some(p);
            }
            let p = last.ok_or("no run")?;
            for step in &p.steps {
                let first =
                    step.resources.first().map(|r| format!("{} ({})", r.resource, r.change)).unwrap_or_default();
                eprintln!(
                    "step {} {}: {} resource(s), e.g. {first}; {} workloads gain STRICT; proof {} calls, {} fixed, {} encrypted",
                    step.number,
                    step.level,
                    step.resources.len(),
                    step.becomes_strict.len(),
                    step.proof.calls,
                    step.proof.fixes,
                    step.proof.encrypts
                );
            }
            println!(
                "{}",
                serde_json::json!({
                    "target": "native",
                    "file": file,
                    "yaml_bytes": text.len(),
                    "runs": runs,
                    "load_ms": median(load),
                    "analyze_ms": median(analyze),
                    "plan_ms": median(plan_ms),
                    "steps": p.steps.len(),
                    "resources": p.steps.iter().map(|s| s.resources.len()).sum::<usize>(),
                    "strict_ports_before": p.coverage.before.strict_ports,
                    "strict_ports_after": p.coverage.after.strict_ports,
                    "sidecar_ports": p.coverage.after.sidecar_ports,
                    "blocked_workloads": p.blocked.len(),
                    "cost": p.cost,
                    "peak_rss_kib": peak_rss_kib(),
                })
            );
        }
        _ => {
            return Err(
                "usage: scale gen N FILE [docs|list-yaml|list-json|dump-yaml|dump-json] | scale run FILE RUNS | scale plan FILE RUNS"
                    .into()
            );
        }
    }
    Ok(())
}
