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

# The OCI registry tests (host-runner/tests/runtime/registry.rs): Debian's docker-registry (the
# CNCF distribution server, started by the test on 127.0.0.1) and skopeo (checks what was pushed).
missing_debs=""
[ -x /usr/bin/docker-registry ] || missing_debs="$missing_debs docker-registry"
[ -x /usr/bin/skopeo ] || missing_debs="$missing_debs skopeo"
if [ -n "$missing_debs" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "[setup] not root: install${missing_debs} yourself (sudo apt-get install -y${missing_debs}) and rerun" >&2
        exit 2
    fi
    say "installing Debian's${missing_debs} (apt-get update && apt-get install -y --no-install-recommends${missing_debs})"
    apt-get update
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing_debs
else
    say "docker-registry $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null) and skopeo $(dpkg-query -W -f='${Version}' skopeo 2>/dev/null): present"
fi
