//! The playground's TypeScript types, generated from the Rust types that cross into JavaScript
//! (`ts_rs::TS`, derived under the `ts` feature). The test fails when the committed
//! `www/src/generated/reports.ts` differs from what the Rust types give; to rewrite it:
//! `MESHLOCK_BLESS=1 cargo test -p meshlock-web --features ts --test typescript`.

#![forbid(unsafe_code)]

use meshlock_core::convert::ConvertOutput;
use meshlock_core::diagnostic::{Code, Diagnostic, Severity};
use meshlock_core::model::{Inventory, ResourceId};
use meshlock_core::plan::{
    BlockKind, BlockReason, Blocked, Coverage, CoverageChange, Plan, PlanCost, Proof, Step, StepResource, StrictGain,
};
use meshlock_core::provenance::{ClientTlsSource, PolicyRef};
use meshlock_core::reach::{FailureGroup, NamespacePair, ReachCounts, ReachSummary};
use meshlock_core::report::{
    AnalyzeReport, Call, CallChange, CallOutcome, ChainEntry, ChangeKind, ClientTlsKind, DiffReport, Effect,
    Explanation, GatewayServerReport, Level, PortReport, ReachReport, ServerModeKind, ServerVerification,
    ServicePortReport, ServiceReport, WorkloadReport,
};
use meshlock_core::version::IstioVersion;
use meshlock_web::connection::{FilterDecision, TriedCall, TryResult};
use meshlock_web::{NamespaceSummary, ReachSample};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use ts_rs::{Config, TS};

const HEADER: &str = "\
// Generated from the Rust types that cross into JavaScript (meshlock-core's reports and
// meshlock-web's answers); do not edit. A change to those types fails
// `cargo test -p meshlock-web --features ts --test typescript` until this file is rewritten with
// `MESHLOCK_BLESS=1 cargo test -p meshlock-web --features ts --test typescript`.
";

/// One declaration and the names it refers to.
struct Declared {
    name: String,
    text: String,
    uses: Vec<String>,
}

fn declare<T: TS + 'static>(cfg: &Config) -> Declared {
    // `docs` is a JSDoc comment already; ts-rs puts the fields' own after a trailing space.
    let declared = format!("{}export {}", T::docs().unwrap_or_default(), T::decl(cfg));
    let mut text = String::new();
    for line in declared.lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    Declared { name: T::ident(cfg), text, uses: T::dependencies(cfg).into_iter().map(|d| d.ts_name).collect() }
}

/// Every type the page receives, and every type those refer to, in the order written.
fn declarations(cfg: &Config) -> Vec<Declared> {
    macro_rules! all {
        ($($t:ty),* $(,)?) => { vec![$(declare::<$t>(cfg)),*] };
    }
    all![
        // strings on the wire (serialized through Display)
        IstioVersion,
        ResourceId,
        PolicyRef,
        ClientTlsSource,
        Code,
        // analyze
        Severity,
        Diagnostic,
        AnalyzeReport,
        WorkloadReport,
        GatewayServerReport,
        PortReport,
        Level,
        Effect,
        ChainEntry,
        ServiceReport,
        ServicePortReport,
        Inventory,
        // reach
        ClientTlsKind,
        ServerModeKind,
        ReachReport,
        Call,
        ServerVerification,
        ReachCounts,
        NamespacePair,
        FailureGroup,
        ReachSummary,
        NamespaceSummary,
        ReachSample,
        // explain, diff, convert
        Explanation,
        DiffReport,
        CallChange,
        CallOutcome,
        ChangeKind,
        ConvertOutput,
        // plan
        Plan,
        CoverageChange,
        Coverage,
        PlanCost,
        Step,
        StepResource,
        StrictGain,
        Proof,
        Blocked,
        BlockKind,
        BlockReason,
        // "try a connection"
        TryResult,
        TriedCall,
        FilterDecision,
    ]
}

/// The generated file's text. JSON numbers are JavaScript numbers: `u64` counts are `number`,
/// not `bigint` (`JSON.parse` never makes a bigint).
fn generate() -> String {
    let cfg = Config::new().with_large_int("number");
    let declared = declarations(&cfg);
    let names: BTreeSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    let mut missing = Vec::new();
    for d in &declared {
        for used in &d.uses {
            if !names.contains(used.as_str()) {
                missing.push(format!("{} uses {used}", d.name));
            }
        }
    }
    assert!(missing.is_empty(), "types referred to but not generated (add them to declarations()): {missing:?}");
    assert_eq!(names.len(), declared.len(), "a type is listed twice");
    let mut out = HEADER.to_owned();
    for d in &declared {
        out.push('\n');
        out.push_str(&d.text);
    }
    out
}

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/src/generated/reports.ts")
}

#[test]
fn the_committed_typescript_types_are_generated_from_the_rust_types() {
    let generated = generate();
    let path = committed();
    if std::env::var_os("MESHLOCK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("www/src/generated")).expect("create www/src/generated");
        std::fs::write(&path, &generated).expect("write the generated types");
        return;
    }
    let current = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with MESHLOCK_BLESS=1 to write it", path.display()));
    if current != generated {
        let fresh = std::env::temp_dir().join(format!("meshlock-reports-{}.ts", std::process::id()));
        std::fs::write(&fresh, &generated).expect("write the fresh types");
        panic!(
            "{} is out of date with the Rust types.\n  diff -u {} {}\nshows what changed; \
             MESHLOCK_BLESS=1 cargo test -p meshlock-web --features ts --test typescript rewrites it",
            path.display(),
            path.display(),
            fresh.display()
        );
    }
}
