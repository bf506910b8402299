#!/usr/bin/env bash
# Installs what meshlock needs on a fresh machine, skipping what is already there, and says
# what it does. Sourced by demo.sh and test.sh; safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[setup] %s\n' "$*"; }

# Rust toolchain and the two wasm targets, pinned by rust-toolchain.toml. A plain `cargo` call
# does not add missing targets, so install explicitly.
if ! command -v rustup >/dev/null 2>&1; then
    echo "[setup] rustup is required (https://rustup.rs is not reachable here; the machine image provides it)" >&2
    exit 2
fi
want_targets="wasm32-wasip1 wasm32-unknown-unknown"
have=$(rustup target list --installed 2>/dev/null || true)
missing=""
for t in $want_targets; do
    grep -qx "$t" <<<"$have" || missing="$missing $t"
done
if [ -n "$missing" ] || ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then
    say "installing the pinned Rust toolchain (rust-toolchain.toml) with targets:${missing:- (components only)}"
    rustup toolchain install
else
    say "Rust toolchain $(rustc --version | cut -d' ' -f2) with wasm targets: present"
fi
