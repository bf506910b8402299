//! Writes a synthetic mesh of N services as YAML to stdout:
//! `cargo run -p meshlock-core --example synth -- 10000 > mesh.yaml`.

use meshlock_core::synth::{MeshShape, generate};
use std::io::Write;

fn main() -> std::io::Result<()> {
    let services = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    std::io::stdout().write_all(generate(&MeshShape::new(services)).as_bytes())
}
