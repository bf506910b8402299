#!/usr/bin/env bash
# The README's third command: every benchmark of BENCHMARKS.md in one run, bounded, loopback
# only, then BENCHMARKS.md itself (scripts/bench/report.py). Not part of the test command.
# Installs what it needs first (as test.sh does; plus binaryen for the wasm-opt sizes).
#
#   bash scripts/bench.sh [SECTION...]
#
# SECTION: engine, plan, criterion (decision cost, data path, VM start), sidecars, simulate, envoy,
# manifests, sizes; none means all. Only the tables of the sections measured are rewritten in
# BENCHMARKS.md; the rest of the file, hand-measured sections included, is kept as it is.
set -euo pipefail
ALL_SECTIONS="engine plan criterion sidecars simulate envoy manifests sizes"
SECTIONS="${*:-$ALL_SECTIONS}"
for section in $SECTIONS; do
    case " $ALL_SECTIONS " in
    *" $section "*) ;;
    *)
        echo "bench.sh: unknown section '$section' (one of: $ALL_SECTIONS)" >&2
        exit 2
        ;;
    esac
done
export MESHLOCK_BENCH_SECTIONS="$SECTIONS"
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
if want envoy; then
    MESHLOCK_ENVOY="$(bash scripts/setup-envoy.sh)"
    export MESHLOCK_ENVOY
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${MESHLOCK_BENCH_OUT:-$TARGET_DIR/bench}"
export MESHLOCK_BENCH_OUT="$OUT"
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

if ! command -v wasm-opt >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "installing Debian's binaryen (wasm-opt) for the size figures"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen >/dev/null || true
    fi
fi

step "builds: the filter, the playground (wasm), the scale example (release)"
if want criterion || want sidecars || want envoy || want sizes; then bash scripts/build-filter.sh; fi
if want engine || want sizes; then bash scripts/build-web.sh >/dev/null; fi
cargo build --quiet --release -p meshlock-core --example scale
scale="$TARGET_DIR/release/examples/scale"
# The synthetic mesh of N services in FORM, generated once into $OUT.
mesh_file() {
    local mesh="$OUT/mesh-$1-$2.yaml"
    [ -s "$mesh" ] || "$scale" gen "$1" "$mesh" "$2"
    echo "$mesh"
}

if want engine; then
step "1. engine at scale: 1k, 10k, 50k services, native and wasm (Node); List, JSON and kubectl-shaped dumps"
: >"$OUT/engine-native.jsonl"
: >"$OUT/engine-native-1.jsonl"
: >"$OUT/engine-wasm.jsonl"
: >"$OUT/pyyaml.jsonl"
# docs: `---` documents; list-*: the same objects as one `kind: List` (kubectl get -o yaml|json);
# dump-*: every object as a cluster returns it (managedFields, status, Pods, ReplicaSets, Events,
# ConfigMaps, Secrets). A 10k-service dump in JSON is ~0.5 GB, over the 256 MiB input limit: the
# JSON dump stops at 5k.
for case in 1000:docs 10000:docs 50000:docs 1000:list-yaml 10000:list-yaml 10000:list-json \
    1000:dump-yaml 1000:dump-json 10000:dump-yaml 5000:dump-json; do
    n="${case%%:*}"
    form="${case#*:}"
    mesh="$(mesh_file "$n" "$form")"
    # A 1k run takes tens of milliseconds, where one slow run (a page fault storm, V8 still in
    # its baseline tier) moves a median of 5 by half: 15 runs there.
    runs=5
    [ "$n" -le 1000 ] && runs=15
    [ "$n" -ge 10000 ] && [ "$form" != docs ] && runs=3
    [ "$n" -ge 50000 ] && runs=3
    # One process per size and target, so each peak-memory figure is that size's own.
    timeout 900 "$scale" run "$mesh" "$runs" "$form" | tee -a "$OUT/engine-native.jsonl"
    # A List or a `---` stream of 1 MiB or more is read on every core the CLI has (split or
    # outlined on one while its documents or items are read on another); the same work on one
    # thread is what the playground's wasm does.
    SCALE_THREADS=1 timeout 900 "$scale" run "$mesh" "$runs" "$form" | tee -a "$OUT/engine-native-1.jsonl"
    timeout 900 node --max-old-space-size=8192 scripts/bench/engine-wasm.mjs www/src/wasm "$mesh" "$runs" "$form" \
        | tee -a "$OUT/engine-wasm.jsonl"
done

# Cost per service, 1k against 50k, as the CLI pays it: one run in a fresh process (in-process
# runs after the first reuse the pages and caches the first warmed, which a 1k run feels most),
# seven processes per size, on the machine's cores and on one thread, sizes alternating.
: >"$OUT/engine-cold.jsonl"
for round in 1 2 3 4 5 6 7; do
    for n in 1000 50000; do
        timeout 900 "$scale" run "$(mesh_file "$n" docs)" 1 docs >>"$OUT/engine-cold.jsonl"
        SCALE_THREADS=1 timeout 900 "$scale" run "$(mesh_file "$n" docs)" 1 docs >>"$OUT/engine-cold.jsonl"
    done
done

# What a user has at hand: PyYAML's C loader (libyaml) merely parsing the same files.
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import yaml; yaml.CSafeLoader' 2>/dev/null; then
    "$PY" -m pip install --quiet pyyaml >&2 || true
fi
for case in 1000:docs 10000:docs 1000:list-yaml 1000:dump-yaml 1000:dump-json; do
    n="${case%%:*}"
    form="${case#*:}"
    timeout 900 "$PY" - "$OUT/mesh-$n-$form.yaml" "$n" "$form" <<'PY' | tee -a "$OUT/pyyaml.jsonl" || true
import json, statistics, sys, time, yaml
path, n, form = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(path).read()
times = []
for _ in range(3):
    t = time.perf_counter()
    for _doc in yaml.load_all(text, Loader=yaml.CSafeLoader):
        pass
    times.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"services": n, "form": form, "yaml_bytes": len(text.encode()), "parse_ms": statistics.median(times),
                  "pyyaml": yaml.__version__}))
PY
done
fi

if want plan; then
# `plan` beside `analyze`, on the same analysis: the 10k mesh (every tenth namespace without
# injection, so its clients keep most ports PERMISSIVE) and the same mesh with every namespace
# injected (the plan turns it all STRICT).
step "1. plan at cluster size"
: >"$OUT/engine-plan.jsonl"
sed 's/istio-injection: disabled/istio-injection: enabled/' "$(mesh_file 10000 docs)" >"$OUT/mesh-10000-injected.yaml"
for mesh in mesh-10000-docs mesh-10000-injected; do
    timeout 900 "$scale" plan "$OUT/$mesh.yaml" 3 2>/dev/null | tee -a "$OUT/engine-plan.jsonl"
done
fi

if want criterion; then
step "2, 3, 5. decision cost, data path, VM start (criterion)"
cargo bench --quiet -p meshlock-testbed --bench datapath -- --noplot 2>&1 | grep -E "^[a-z].*time:|^\S+/" || true
fi

if want sidecars; then
step "3. calls through both sidecars against bare rustls"
cargo bench --quiet -p meshlock-testbed --bench sidecars
fi

if want simulate; then
step "3. simulate: every call of the 200-service mesh through both sidecars on 127.0.0.1"
cargo build --quiet --release -p meshlock-cli --bin meshlock
/usr/bin/time -f "%e s wall, %M KiB peak" "$TARGET_DIR/release/meshlock" simulate "$(mesh_file 200 docs)" \
    2>"$OUT/simulate-200.time" | tail -1 >"$OUT/simulate-200.txt" || true
fi

if want envoy; then
step "4, 5. in Envoy: no filter, RBAC, meshlock (interleaved), /ready"
if cargo bench --quiet -p meshlock-testbed --bench envoy --no-run >/dev/null 2>&1; then
    cargo bench --quiet -p meshlock-testbed --bench envoy
else
    echo "the Envoy bench does not build here: section 4 is left out" >&2
fi
fi

if want manifests; then
step "5. mesh-scale delivery: a WasmPlugin per workload for the 10k and 50k meshes"
cargo build --quiet --profile bench --bin meshlock
meshlock_bin="$TARGET_DIR/release/meshlock"
: >"$OUT/manifests.jsonl"
for n in 10000 50000; do
    dir="$OUT/manifests-$n"
    rm -rf "$dir"
    log="$("$meshlock_bin" envoy-config --wasm-plugin --all --out "$dir" "$(mesh_file "$n" docs)" 2>&1 >/dev/null)"
    echo "$log"
    python3 - "$n" "$dir" "$log" >>"$OUT/manifests.jsonl" <<'PY'
import json, os, re, sys
n, d, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sizes = [os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs]
ms = re.search(r" in (\d+) ms", log)
print(json.dumps({"services": n, "manifests": len(sizes), "total_bytes": sum(sizes), "largest_bytes": max(sizes, default=0),
                  "ms": float(ms.group(1)) if ms else None}))
PY
    rm -rf "$dir"
done
fi

if want sizes; then
step "5. sizes (the shipped filter, and the yaml-config variant that parses YAML itself, for comparison)"
cargo build --quiet -p meshlock-filter --target wasm32-wasip1 --profile release-wasm --features yaml-config \
    --target-dir "$TARGET_DIR/yaml-config"
python3 - "$TARGET_DIR" "$OUT/sizes.json" <<'PY'
import gzip, json, os, shutil, subprocess, sys, tempfile
target, out = sys.argv[1], sys.argv[2]
flags = ["--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
         "--enable-nontrapping-float-to-int", "--enable-multivalue", "--enable-reference-types"]
mods = [("filter (wasm32-wasip1)", f"{target}/wasm32-wasip1/release-wasm/meshlock_filter.wasm"),
        ("filter with the YAML reader (yaml-config, wasm32-wasip1; before this change the shipped one)",
         f"{target}/yaml-config/wasm32-wasip1/release-wasm/meshlock_filter.wasm"),
        ("filter (wasm32-unknown-unknown)", f"{target}/wasm32-unknown-unknown/release-wasm/meshlock_filter.wasm"),
        ("playground engine (meshlock_web_bg.wasm, as served)", "www/src/wasm/meshlock_web_bg.wasm")]
rows = []
for name, path in mods:
    if not os.path.exists(path):
        continue
    data = open(path, "rb").read()
    row = {"name": name, "raw": len(data), "gz": len(gzip.compress(data, 9)), "opt": None, "opt_gz": None}
    if shutil.which("wasm-opt"):
        with tempfile.TemporaryDirectory() as d:
            o = os.path.join(d, "o.wasm")
            if subprocess.run(["wasm-opt", "-Oz", *flags, path, "-o", o]).returncode == 0:
                od = open(o, "rb").read()
                row["opt"], row["opt_gz"] = len(od), len(gzip.compress(od, 9))
    rows.append(row)
js = [os.path.join("www/dist/assets", f) for f in os.listdir("www/dist/assets") if f.endswith(".js")] if os.path.isdir("www/dist/assets") else []
if js:
    data = b"".join(open(p, "rb").read() for p in js)
    rows.append({"name": f"playground JavaScript ({len(js)} files, www/dist/assets)", "raw": len(data), "gz": len(gzip.compress(data, 9))})
json.dump(rows, open(out, "w"), indent=1)
PY
fi

step "BENCHMARKS.md"
python3 scripts/bench/report.py
