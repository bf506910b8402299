#!/usr/bin/env bash
# Every check and test: formatting, clippy, both wasm builds, unit/integration/corpus tests.
# Installs what it needs first; safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (workspace, all targets, -D warnings)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "core builds for both wasm targets"
cargo build --quiet -p meshlock-core --target wasm32-wasip1
cargo build --quiet -p meshlock-core --target wasm32-unknown-unknown

step "the proxy-wasm filter for both wasm targets (clippy on its wasm-only glue, sizes)"
cargo clippy --quiet -p meshlock-filter --target wasm32-wasip1 -- -D warnings
bash scripts/build-filter.sh

step "meshlock test tests/suites/*.yaml (the filter in the wasmtime host)"
cargo run --quiet --bin meshlock -- test tests/suites/*.yaml

step "cargo test (workspace)"
cargo test --workspace --quiet 2>&1 | tee target/test-output.txt
