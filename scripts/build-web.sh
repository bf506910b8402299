#!/usr/bin/env bash
# Builds the browser playground: meshlock-web (Rust → wasm32) and www/ (TypeScript + Vite)
# into www/dist, which `meshlock serve` embeds the next time meshlock is built.
#
# Idempotent. It prints everything it installs:
#   * wasm-bindgen-cli, pinned to the wasm-bindgen version in Cargo.lock, into ./.tools
#     (`cargo install --root .tools`, about 4 minutes the first time; skipped when present);
#   * the npm packages of www/ with `npm ci` (locked by www/package-lock.json).
#
# Usage: scripts/build-web.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf 'build-web: %s\n' "$*" >&2; }

# --- wasm-bindgen CLI, pinned to the crate version in Cargo.lock (playground.md P2) ---
want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [[ -z "$want" ]]; then
    say "Cargo.lock has no wasm-bindgen entry; run 'cargo generate-lockfile' first"
    exit 2
fi
bindgen="$root/.tools/bin/wasm-bindgen"
have="$("$bindgen" --version 2>/dev/null | awk '{print $2}' || true)"
if [[ "$have" != "$want" ]]; then
    say "installing wasm-bindgen-cli $want into .tools/ (cargo install; takes a few minutes)"
    # No --locked: the registry reachable here lacks a version its lock file names
    # (playground.md P1).
    cargo install wasm-bindgen-cli --version "$want" --root "$root/.tools"
else
    say "wasm-bindgen-cli $want already in .tools/"
fi

# --- meshlock-web → wasm32-unknown-unknown (profile release-web: opt-level 3, LTO, abort) ---
# With wasm SIMD (every current browser and Node runs it): the memchr crate's searches then
# take 16 bytes at a time instead of 4, and a cluster dump's document split and Helm check are
# whole-text scans (10k kubectl dump, load in Node: 1.44-1.64 -> 1.25-1.31 s). Only this build:
# the filter, which every proxy compiles, is built without it.
say "cargo build -p meshlock-web --target wasm32-unknown-unknown --profile release-web (+simd128)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128" \
    cargo build -p meshlock-web --target wasm32-unknown-unknown --profile release-web
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
wasm_in="$target_dir/wasm32-unknown-unknown/release-web/meshlock_web.wasm"

# No wasm-opt pass: `wasm-opt -Oz` (and -O3) made the module 6% smaller gzipped but the engine
# slower to warm up in V8 (load + analyze + reach on a 1,000-service mesh, median of 5 runs in
# one Node process: about 2x the time of the unoptimised cargo output), and no faster once warm.

out="$root/www/src/wasm"
rm -rf "$out"
mkdir -p "$out"
say "wasm-bindgen --target web → www/src/wasm/"
"$bindgen" --target web --out-dir "$out" "$wasm_in"

say "smoke check: the module loads in Node and analyses a document"
node "$root/www/test/smoke-wasm.mjs" "$out"

# --- www/ → www/dist ---
cd "$root/www"
if [[ node_modules/.package-lock.json -nt package-lock.json ]]; then
    say "www/node_modules is newer than package-lock.json: npm ci skipped"
else
    say "npm ci in www/ (packages from package-lock.json)"
    npm ci --no-audit --no-fund
fi
say "npm run build → www/dist"
npm run build

wasm_out="$(ls dist/assets/*.wasm)"
say "wasm: $(wc -c <"$wasm_out") bytes, $(gzip -9 -c "$wasm_out" | wc -c) gzipped"
for js in dist/assets/*.js; do
    say "$(basename "$js"): $(wc -c <"$js") bytes, $(gzip -9 -c "$js" | wc -c) gzipped"
done
say "done: www/dist is ready; build meshlock (cargo build -p meshlock-cli) to embed it, then run 'meshlock serve'"
