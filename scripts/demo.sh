#!/usr/bin/env bash
# The main job on the bundled example: the analysis of every workload and port, then the
# reachability matrix. Installs what it needs first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
cargo build --quiet --bin meshlock
MESHLOCK="$ROOT/target/debug/meshlock"

echo
echo "== meshlock analyze examples/authn"
"$MESHLOCK" analyze examples/authn || true   # exit 1: the example has error diagnostics on purpose
echo
echo "== meshlock reach examples/authn"
"$MESHLOCK" reach examples/authn
echo
echo "== meshlock explain examples/authn --workload bar/httpbin"
"$MESHLOCK" explain examples/authn --workload bar/httpbin
echo
echo "== meshlock test tests/suites/authn-example-*.yaml (the filter .wasm in the host, real mTLS)"
bash scripts/build-filter.sh
"$MESHLOCK" test tests/suites/authn-example-foo.yaml tests/suites/authn-example-bar.yaml
