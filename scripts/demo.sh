#!/usr/bin/env bash
# The main job on the bundled example: the analysis of every workload and port, then the
# reachability matrix, then the seeds' flow for real through both sidecars on 127.0.0.1.
# Installs what it needs first.
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

echo
echo "== the seeds' flow for real: meshlock simulate (client sidecar -> server sidecar -> app on 127.0.0.1),"
echo "   each call's prediction (reach) beside what the running sidecars did"
echo
echo "-- a call over mTLS through both sidecars"
"$MESHLOCK" simulate examples/authn --from bar/sleep --to httpbin.bar:8000
echo
echo "-- a plaintext caller (no sidecar) refused by STRICT"
"$MESHLOCK" simulate examples/authn --from legacy/sleep --to httpbin.foo:8000
echo
echo "-- a server presenting the wrong identity, refused by secure naming"
echo "   (examples/authn plus a DestinationRule whose subjectAltNames name another service account)"
demo="$(mktemp -d)"
trap 'rm -rf "$demo"' EXIT
cp examples/authn/*.yaml "$demo/"
cat >"$demo/wrong-identity.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin-pinned
  namespace: bar
spec:
  host: httpbin.bar.svc.cluster.local
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL
      subjectAltNames: ["spiffe://cluster.local/ns/bar/sa/httpbin-v2"]
EOF
"$MESHLOCK" simulate "$demo" --from bar/sleep --to httpbin.bar:8000
echo
echo "-- the DestinationRule with tls and no mode (DISABLE) toward the STRICT httpbin in foo"
"$MESHLOCK" simulate examples/authn --from foo/sleep --to httpbin.foo:8000
echo
echo "== meshlock simulate examples/authn: every call"
"$MESHLOCK" simulate examples/authn
