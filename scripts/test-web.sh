#!/usr/bin/env bash
# Tests the browser playground on a fresh machine:
#   1. installs Debian's chromium when /usr/bin/chromium is missing (apt-get; prints it);
#   2. builds the playground (scripts/build-web.sh: wasm-bindgen-cli into .tools/, npm ci, vite)
#      and meshlock with the playground embedded;
#   3. runs the unit tests of www/ (vitest; they load the real wasm in Node);
#   4. runs the browser tests (tests/browser/playground.mjs): playwright-core drives headless
#      chromium against `meshlock serve`, which it starts on 127.0.0.1 with a free port and
#      stops by PID. Screenshots land in tests/artifacts/.
# Exits non-zero when any step fails.
#
# Usage: scripts/test-web.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf 'test-web: %s\n' "$*" >&2; }

if [[ ! -x /usr/bin/chromium ]]; then
    say "installing Debian's chromium (apt-get update && apt-get install -y chromium)"
    if [[ "$(id -u)" -ne 0 ]]; then
        say "not root: install chromium yourself (sudo apt-get install -y chromium) and rerun"
        exit 2
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
else
    say "chromium present: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
fi

# test.sh builds the playground first and says so: building it again would rewrite www/dist and
# make cargo rebuild the binary that embeds it.
if [[ -z "${MESHLOCK_WEB_BUILT:-}" ]]; then
    scripts/build-web.sh
fi

# The same build as `cargo test --workspace` (same features: nothing is rebuilt after test.sh's
# cargo test; `cargo build -p meshlock-cli` alone would resolve other features and rebuild).
say "cargo test --workspace --no-run (builds target/debug/meshlock, which embeds www/dist)"
cargo test --workspace --no-run --quiet
bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/meshlock"

say "unit tests (vitest)"
(cd www && timeout 300 npx vitest run)

say "browser tests (playwright-core + chromium against meshlock serve)"
mkdir -p tests/artifacts
timeout 600 node tests/browser/playground.mjs "$bin"
