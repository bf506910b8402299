//! Writes a synthetic mesh of N services to stdout:
//! `cargo run -p meshlock-core --example synth -- 10000 > mesh.yaml` (`---` documents), or as a
//! cluster dump: `-- 10000 --realistic [--json]` (one `kind: List` as `kubectl get -A -o yaml`
//! or `-o json` prints it, with managedFields, status, Pods, ReplicaSets, Events, ConfigMaps and
//! Secrets); `--list` writes the clean mesh as one List.

#![forbid(unsafe_code)]

use meshlock_core::synth::{DumpFormat, MeshShape, generate, generate_dump};
use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let services = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let shape = MeshShape::new(services);
    let format = if has("--json") { DumpFormat::ListJson } else { DumpFormat::ListYaml };
    let text = if has("--realistic") {
        generate_dump(&shape, true, format)
    } else if has("--list") || has("--json") {
        generate_dump(&shape, false, format)
    } else {
        generate(&shape)
    };
    std::io::stdout().write_all(text.as_bytes())
}
