#!/usr/bin/env bash
# Builds the proxy-wasm filter for wasm32-wasip1 and wasm32-unknown-unknown with the
# `release-wasm` profile (opt-level z, LTO, panic=abort) and prints the module sizes, and the
# sizes after `wasm-opt -Oz` when binaryen is installed (optional: nothing depends on it).
# The wasm32-unknown-unknown build is the shipped one (the default of every command): without
# WASI, std links no C library into it, and V8 compiles every byte before Envoy is ready
# (docs/envoy.md, "Numbers"). The wasip1 build stays for hosts that want WASI; the suites run
# through both.
# The shipped module is built without default features: it reads only the compiled policy
# (`meshlock compile`, docs/compiled-policy.md) and carries no YAML reader. The variant that
# also reads the YAML form (`yaml-config`) is built only by scripts/bench.sh, for its size.
# Also builds the fault-test variant (feature `test-panic`: panics on a marked request) into
# its own target directory, `$TARGET_DIR/test-panic/`, so the release module is never that
# build and the two builds do not invalidate each other.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

for triple in wasm32-wasip1 wasm32-unknown-unknown; do
    cargo build --quiet -p meshlock-filter --target "$triple" --profile release-wasm --no-default-features --features proxy-abi
done

# The shipped triple only: the fault tests load it in the host and in Envoy.
cargo build --quiet -p meshlock-filter --target wasm32-unknown-unknown --profile release-wasm --no-default-features \
    --features proxy-abi,test-panic \
    --target-dir "$TARGET_DIR/test-panic"
echo "test-panic variant (fault tests only): $TARGET_DIR/test-panic/wasm32-unknown-unknown/release-wasm/meshlock_filter.wasm"

size_of() { stat -c %s "$1"; }
kib() { awk -v b="$1" 'BEGIN { printf "%.0f KiB", b / 1024 }'; }

for triple in wasm32-wasip1 wasm32-unknown-unknown; do
    wasm="$TARGET_DIR/$triple/release-wasm/meshlock_filter.wasm"
    raw=$(size_of "$wasm")
    line="$triple: $wasm $raw bytes ($(kib "$raw"))"
    if command -v wasm-opt >/dev/null 2>&1; then
        opt="${wasm%.wasm}.opt.wasm"
        # The features Rust 1.95 emits for wasm32 by default, spelled out: a module stripped of
        # its target_features section would otherwise fail wasm-opt's validation.
        wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
            --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types \
            "$wasm" -o "$opt"
        o=$(size_of "$opt")
        line="$line; wasm-opt -Oz: $o bytes ($(kib "$o")) in ${opt#"$ROOT"/}"
    else
        line="$line; wasm-opt not installed (optional: apt-get install binaryen)"
    fi
    echo "$line"
done
