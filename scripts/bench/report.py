#!/usr/bin/env python3
"""Renders BENCHMARKS.md (and the engine-scale SVG) from what scripts/bench.sh measured:
target/bench/engine-*.jsonl (core/examples/scale.rs and engine-wasm.mjs), criterion's estimates
(host-runner/testbed/benches/datapath.rs), target/bench/envoy.json (host-runner/testbed/benches/envoy.rs) and
target/bench/sizes.json. Every figure is printed beside its baseline from the same run.

The generated tables sit in BENCHMARKS.md between markers (`<!-- bench.sh:NAME -->` and
`<!-- /bench.sh:NAME -->`); a run rewrites only the blocks of the sections it measured
(MESHLOCK_BENCH_SECTIONS, set by bench.sh) and keeps everything else, the hand-measured sections
among it. Without a BENCHMARKS.md, the whole file is written."""
import datetime
import glob
import json
import os
import platform
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
OUT = os.environ.get("MESHLOCK_BENCH_OUT", os.path.join(TARGET, "bench"))
ALL_SECTIONS = "engine plan criterion sidecars simulate envoy manifests sizes"
SECTIONS = os.environ.get("MESHLOCK_BENCH_SECTIONS", ALL_SECTIONS).split()
# The blocks of BENCHMARKS.md each section of bench.sh writes.
BLOCKS_OF = {"criterion": ["decision", "datapath", "start"]}
MEASURED = {block for section in SECTIONS for block in BLOCKS_OF.get(section, [section])}
MARKED = re.compile(r"<!-- bench\.sh:([a-z]+) -->\n.*?<!-- /bench\.sh:\1 -->\n", re.S)


def load_jsonl(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip().startswith("{")]
    return rows


def criterion():
    """{(group, function): median ns}."""
    out = {}
    for bench in glob.glob(os.path.join(TARGET, "criterion", "*", "*", "new", "benchmark.json")):
        with open(bench) as f:
            meta = json.load(f)
        with open(os.path.join(os.path.dirname(bench), "estimates.json")) as f:
            est = json.load(f)
        out[(meta["group_id"], meta["function_id"])] = est["median"]["point_estimate"]
    return out


def fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        if abs(v) >= 100:
            s = f"{v:,.0f}"
        elif abs(v) >= 10:
            s = f"{v:.1f}"
        else:
            s = f"{v:.2f}"
    else:
        s = f"{v:,}"
    return f"{s} {unit}".strip()


def ok(met):
    return "—" if met is None else ("met" if met else "**missed**")


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {mem} RAM, Linux {platform.release()}; {rustc}; Node {node}"


def svg_plot(native, wasm, path):
    """Milliseconds (load + analyze + reach counts) against services, log-log, both targets."""
    series = [("native", "#1f77b4", native), ("wasm (Node)", "#d62728", wasm)]
    pts = [(r["services"], r["load_ms"] + r["analyze_ms"] + r["reach_ms"]) for _, _, rs in series for r in rs]
    if not pts:
        return False
    import math

    w, h, m = 420, 260, 48
    xs = [math.log10(p[0]) for p in pts]
    ys = [math.log10(max(p[1], 0.001)) for p in pts]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs) + 0.01)
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys) + 0.01)
    sx = lambda x: m + (math.log10(x) - x0) / (x1 - x0) * (w - 2 * m)
    sy = lambda y: h - m + 8 - (math.log10(max(y, 0.001)) - y0) / (y1 - y0) * (h - 2 * m)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>']
    for e in range(x0, x1 + 1):
        x = sx(10 ** e)
        parts.append(f'<line x1="{x:.1f}" y1="{m - 8}" x2="{x:.1f}" y2="{h - m + 8}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{h - m + 22}" text-anchor="middle">{10 ** e:,}</text>')
    for e in range(y0, y1 + 1):
        y = sy(10 ** e)
        parts.append(f'<line x1="{m}" y1="{y:.1f}" x2="{w - m}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{m - 4}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g} ms</text>')
    # A slope-1 guide through the first native point: cost linear in size.
    if native:
        bx, by = native[0]["services"], native[0]["load_ms"] + native[0]["analyze_ms"] + native[0]["reach_ms"]
        ex = 10 ** x1
        parts.append(f'<line x1="{sx(bx):.1f}" y1="{sy(by):.1f}" x2="{sx(ex):.1f}" y2="{sy(by * ex / bx):.1f}" '
                     'stroke="#999" stroke-dasharray="4 3"/>')
    for i, (name, color, rows) in enumerate(series):
        coords = [(sx(r["services"]), sy(r["load_ms"] + r["analyze_ms"] + r["reach_ms"])) for r in rows]
        if coords:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in coords]
        parts.append(f'<text x="{m + 8}" y="{m + 6 + 14 * i}" fill="{color}">{name}</text>')
    parts.append(f'<text x="{m + 8}" y="{m + 34}" fill="#999">dashed: linear (slope 1)</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle">services (log)</text>')
    parts.append(f'<text x="{w / 2}" y="14" text-anchor="middle">load + analyze + full reach counts, median ms (log)</text>')
    parts.append("</svg>")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return True


def splice(existing, parts):
    """`existing` with each measured block's text replaced by the one just rendered; the names of
    the measured blocks it has no place for."""
    rendered = {block: text for block, text in parts if block in MEASURED}
    placed = set()

    def replace(m):
        block = m.group(1)
        if block not in rendered:
            return m.group(0)
        placed.add(block)
        return marked(block, rendered[block])

    return MARKED.sub(replace, existing), sorted(set(rendered) - placed)


def marked(block, lines):
    return f"<!-- bench.sh:{block} -->\n" + "".join(line + "\n" for line in lines) + f"<!-- /bench.sh:{block} -->\n"


def main():
    # The file in parts: (None, lines) is fixed text, (name, lines) a block a section rewrites.
    parts = []

    def begin(block=None):
        parts.append((block, []))
        if block is not None:
            add(f"*Written by `bash scripts/bench.sh` {now} on {host}.*")
            add("")

    def add(line):
        parts[-1][1].append(line)

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    host = machine()  # runs rustc and node: once, not per block
    begin()
    add("# Benchmarks")
    add("")
    add("A part that opens with *Written by `bash scripts/bench.sh` DATE* comes from that run of the")
    add("README's third command, which rewrites the parts of the sections it measures and keeps the rest")
    add("of this file (the other generated parts are from earlier runs, dated in their text); the sections")
    add("marked *hand-measured* were measured by hand, each beside its own baseline. Every figure sits")
    add("beside its baseline measured in the same run, and the ratio between them is what counts: this")
    add("machine is shared and noisy, so absolute numbers move between runs while ratios hold. Figures")
    add("are medians of several runs (criterion's median for the in-process benches).")
    add("")

    # 1. Engine at scale.
    native_all = sorted(load_jsonl(os.path.join(OUT, "engine-native.jsonl")), key=lambda r: r["services"])
    wasm_all = sorted(load_jsonl(os.path.join(OUT, "engine-wasm.jsonl")), key=lambda r: r["services"])
    native = [r for r in native_all if r.get("form", "docs") == "docs"]
    wasm = [r for r in wasm_all if r.get("form", "docs") == "docs"]
    add("## 1. Engine at scale")
    add("")
    # A block is written only from data of this run (a section without data keeps its old text).
    begin("engine" if native_all else None)
    add("The synthetic mesh (`meshlock_core::synth`: 20 services per namespace, every tenth namespace without")
    add("injection, mesh + namespace + workload + port-level PeerAuthentications, service DestinationRules and a")
    add("root `*.local` ISTIO_MUTUAL rule). *load* = parse + index + resolve every workload port + lint;")
    add("*analyze* = the report as `meshlock analyze --format json` writes it, pretty JSON text, natively and in")
    add("wasm (`analyzeJson`, the page's report download; the JS objects of `analyze()` are `analyze_objects_ms` in")
    add("`target/bench/engine-wasm.jsonl`); *reach* = the counts of the full")
    add("reach matrix (every client × service port × endpoint, computed per client class in linear time).")
    add("Native: `core/examples/scale.rs`; wasm: the playground's module (`www/src/wasm`) in Node,")
    add("`scripts/bench/engine-wasm.mjs`. Peak memory: the process's VmHWM natively; wasm linear memory (and")
    add("the Node process's max RSS). *native* runs on the machine's cores as the CLI does; *wasm / native*")
    add("compares the wasm module, which has one thread, with the same native build on one thread")
    add("(`SCALE_THREADS=1`).")
    add("")
    # The same inputs read on one thread (`SCALE_THREADS=1`): the work the wasm module does.
    one_thread = {(r["services"], r.get("form", "docs")): r for r in load_jsonl(os.path.join(OUT, "engine-native-1.jsonl"))}
    native_1 = lambda r: one_thread.get((r["services"], r.get("form", "docs")), r)
    add("| services | workloads | YAML | calls | native load | analyze | reach | native peak RSS | wasm load | analyze | reach | wasm memory (Node RSS) | wasm / native (one thread) |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    by_w = {r["services"]: r for r in wasm}
    for r in native:
        wr = by_w.get(r["services"])
        r1 = native_1(r)
        tn = r1["load_ms"] + r1["analyze_ms"] + r1["reach_ms"]
        tw = wr and wr["load_ms"] + wr["analyze_ms"] + wr["reach_ms"]
        add(f"| {r['services']:,} | {r['workloads']:,} | {r['yaml_bytes'] / 1e6:.1f} MB | {r['calls']:,} "
            f"| {fmt(r['load_ms'], 'ms')} | {fmt(r['analyze_ms'], 'ms')} | {fmt(r['reach_ms'], 'ms')} "
            f"| {r['peak_rss_kib'] / 1024:.0f} MiB "
            + (f"| {fmt(wr['load_ms'], 'ms')} | {fmt(wr['analyze_ms'], 'ms')} | {fmt(wr['reach_ms'], 'ms')} "
               f"| {wr['wasm_memory_kib'] / 1024:.0f} MiB ({wr['peak_rss_kib'] / 1024:.0f} MiB) | {tw / tn:.2f}× |"
               if wr else "| — | — | — | — | — |"))
    add("")
    # The same meshes as users pipe them in: one List (YAML, JSON), and kubectl-shaped dumps.
    forms = [r for r in native_all if r.get("form", "docs") != "docs"]
    by_wf = {(r["services"], r.get("form")): r for r in wasm_all}
    pyyaml = {(r["services"], r["form"]): r for r in load_jsonl(os.path.join(OUT, "pyyaml.jsonl"))}
    total = lambda r: r["load_ms"] + r["analyze_ms"] + r["reach_ms"]
    if forms:
        add("The same meshes as users pipe them in: *list-yaml* / *list-json* are the objects above as one `kind: List`")
        add("(`kubectl get -o yaml` / `-o json`); *dump-yaml* / *dump-json* add what a cluster returns besides")
        add("(`synth::generate_dump`: managedFields, status, last-applied annotations, the ReplicaSet and the injected")
        add("Pod behind each Deployment, EndpointSlices, Events, ConfigMaps, Secrets). Before this front door, a")
        add("200-service dump-yaml took 9.7 s to load and a 1,000-service JSON List had no answer in 28 minutes.")
        add("*PyYAML* is `yaml.load_all(text, Loader=CSafeLoader)` (libyaml in C) merely parsing the same file.")
        add("*native* reads on the machine's cores as the CLI does (a List or a `---` stream of 1 MiB or more is")
        add("split or outlined on one thread while its documents or items are read on another); *one thread* is")
        add("the same build with `SCALE_THREADS=1`,")
        add("the work the playground's wasm does on its one thread, so *wasm / native* compares it with that.")
        add("")
        add("| services | form | bytes | bytes / service | workloads | native load | analyze | reach | peak RSS | one thread, load + analyze | wasm total | wasm / native (one thread) | PyYAML parse | meshlock whole / PyYAML parse |")
        add("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in native_all:
            wr = by_wf.get((r["services"], r.get("form", "docs")))
            py = pyyaml.get((r["services"], r.get("form", "docs")))
            wasm_total = fmt(total(wr), "ms") if wr else "—"
            r1 = native_1(r)
            wasm_ratio = f"{total(wr) / total(r1):.2f}×" if wr else "—"
            py_ms = fmt(py["parse_ms"], "ms") if py else "—"
            py_ratio = f"{(r['load_ms'] + r['analyze_ms']) / py['parse_ms']:.3f}" if py else "—"
            add(f"| {r['services']:,} | {r.get('form', 'docs')} | {r['yaml_bytes'] / 1e6:.1f} MB | {r['yaml_bytes'] / r['services'] / 1e3:.1f} KB "
                f"| {r['workloads']:,} | {fmt(r['load_ms'], 'ms')} | {fmt(r['analyze_ms'], 'ms')} | {fmt(r['reach_ms'], 'ms')} "
                f"| {r['peak_rss_kib'] / 1024:.0f} MiB | {fmt(r1['load_ms'] + r1['analyze_ms'], 'ms')} "
                f"| {wasm_total} | {wasm_ratio} | {py_ms} | {py_ratio} |")
        add("")
    goals = []
    ten = next((r for r in native if r["services"] == 10000), None)
    dump10 = next((r for r in native_all if r["services"] == 10000 and r.get("form") == "dump-yaml"), None)
    if dump10:
        t = dump10["load_ms"] + dump10["analyze_ms"]
        goals.append(("realistic 10k dump (YAML List), load + analyze, native", fmt(t, "ms"), "< 1,000 ms", t < 1000))
        d1 = native_1(dump10)
        t1 = d1["load_ms"] + d1["analyze_ms"]
        goals.append(("the same on one thread (no goal of its own; the CLI uses the cores it has)", fmt(t1, "ms"), "—", None))
    if ten:
        t = ten["load_ms"] + ten["analyze_ms"]
        goals.append(("clean synthetic 10k, load + analyze, native", fmt(t, "ms"), "< 400 ms", t < 400))
    for r in native_all:
        py = pyyaml.get((r["services"], r.get("form", "docs")))
        if py:
            ratio = (r["load_ms"] + r["analyze_ms"]) / py["parse_ms"]
            goals.append((f"meshlock load + analyze / PyYAML CSafeLoader parse, {r['services']:,} {r.get('form', 'docs')}",
                          f"{ratio:.3f}", "< 1", ratio < 1))
    # Cost per service, smallest against largest size, from one run per fresh process (medians).
    cold = {}
    for r in load_jsonl(os.path.join(OUT, "engine-cold.jsonl")):
        cold.setdefault((r["threads"], r["services"]), []).append(total(r) / r["services"])
    median = lambda v: sorted(v)[len(v) // 2]
    for threads in sorted({t for t, _ in cold}, reverse=True):
        sizes = sorted(n for t, n in cold if t == threads)
        if len(sizes) >= 2:
            small, large = median(cold[(threads, sizes[0])]), median(cold[(threads, sizes[-1])])
            growth = large / small
            who = "one thread (the playground's case)" if threads == 1 else f"{threads} threads (the CLI's case)"
            goals.append((f"cost per service, {sizes[-1]:,} vs {sizes[0]:,} services, {who}, one run per process, "
                          f"median of {len(cold[(threads, sizes[0])])} (1.0 = linear; {small * 1e3:.1f} → {large * 1e3:.1f} µs)",
                          f"{growth:.2f}", "≤ 1.2 (linear)", growth <= 1.2))
    fifty = next((r for r in native if r["services"] == 50000), None)
    if fifty:
        # The CLI loads once per process: the goal is judged on the first run's peak. The process's
        # peak over all its runs is the table's; later runs reuse what the allocator kept.
        first_run = fifty.get("peak_rss_first_run_kib") or fifty["peak_rss_kib"]
        mib = first_run / 1024
        goals.append((f"peak RSS, 50k clean, native, one run as the CLI loads (all {fifty.get('runs', 1)} runs of the "
                      f"process: {fifty['peak_rss_kib'] / 1024:.0f} MiB)", f"{mib:.0f} MiB", "≤ 350 MiB", mib <= 350))
    if native_all and wasm_all:
        ratios = [total(by_wf[(r["services"], r.get("form", "docs"))]) / total(native_1(r))
                  for r in native_all if (r["services"], r.get("form", "docs")) in by_wf]
        if ratios:
            goals.append(("wasm / native, worst size and form", f"{max(ratios):.2f}×", "≤ 1.5×", max(ratios) <= 1.5))
    if goals:
        add("| figure | value | goal | |")
        add("|---|---|---|---|")
        for name, v, g, met in goals:
            add(f"| {name} | {v} | {g} | {ok(met)} |")
        add("")
    if svg_plot(native, wasm, os.path.join(ROOT, "docs", "bench", "engine-scale.svg")):
        add("![time against size, log-log, native and wasm](docs/bench/engine-scale.svg)")
        add("")
    begin()

    # `plan` beside `analyze` (scale plan: the same analysis, medians of its runs).
    plans = load_jsonl(os.path.join(OUT, "engine-plan.jsonl"))
    if plans:
        add("### `plan` at cluster size")
        add("")
        begin("plan")
        add("`meshlock plan` (docs/plan.md) on the 10,000-service synthetic mesh, beside `analyze` in the same")
        add("process (`scale plan FILE 3`, native, medians): *plan* is the search, the steps and their proofs on an")
        add("analysis already loaded; every comparison is call by call over reach's client classes. *injected*")
        add("is the same mesh with every namespace injected, so the plan turns it all STRICT.")
        add("")
        add("| mesh | load | analyze | plan | plan / (load + analyze) | steps | resources | STRICT ports before → after | comparisons | class calls |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for r in plans:
            name = os.path.basename(r.get("file", "")).replace(".yaml", "")
            base = r["load_ms"] + r["analyze_ms"]
            cost = r.get("cost", {})
            add(f"| {name} | {fmt(r['load_ms'], 'ms')} | {fmt(r['analyze_ms'], 'ms')} | {fmt(r['plan_ms'], 'ms')} "
                f"| {r['plan_ms'] / base:.2f} | {r['steps']} | {r['resources']:,} "
                f"| {r['strict_ports_before']:,} → {r['strict_ports_after']:,} of {r['sidecar_ports']:,} "
                f"| {cost.get('checks', 0)} | {cost.get('classEvaluations', 0):,} |")
        add("")
        begin()

    # 2 and 3 and 5 (criterion).
    crit = criterion()
    ns = lambda g, f: crit.get((g, f))
    add("## 2. Decision cost")
    add("")
    begin("decision" if crit else None)
    add("One inbound decision (STRICT port, a verified client certificate with the mesh's trust domain): natively,")
    add("`meshlock_filter::config::Guard::decide_inbound` (the code the .wasm runs, over the core's `enforce`);")
    add("in wasmtime, the whole ABI sequence a proxy drives per connection (context create, `on_new_connection`,")
    add("`on_downstream_data`, done, delete; the properties read through `get_property`) or per request (context")
    add("create, `on_request_headers`, done, delete). `host-runner/testbed/benches/datapath.rs`, group `decision`.")
    add("")
    add("| decision | native | in wasmtime | wasm / native | goal | |")
    add("|---|---|---|---|---|---|")
    for kind in ["network", "http"]:
        n, w = ns("decision", f"native {kind}"), ns("decision", f"wasm {kind}")
        if n is None or w is None:
            continue
        met = n < 1000 and w < 5000
        add(f"| {'connection (network filter)' if kind == 'network' else 'HTTP request (HTTP filter)'} "
            f"| {fmt(n, 'ns')} | {fmt(w / 1000, 'µs')} | {w / n:,.0f}× | native < 1 µs, wasm < 5 µs | {ok(met)} |")
    add("")
    add("Cedar's published authorization medians are 4–11 µs per request (performance-anchors.md).")
    add("")
    begin()

    add("## 3. Data path")
    add("")
    begin("datapath" if crit else None)
    add("A full mTLS handshake (TLS 1.3, ECDSA P-256 certificates from the test CA, client certificate verified")
    add("against the mesh root) and one HTTP request/response, in memory. Baseline: bare rustls with the same")
    add("`ServerConfig` object (certificates and client verifier) and the same client configuration code;")
    add("measured: the host's data path (tls_inspector-style sniffing, rustls, Envoy's properties, the filter in")
    add("wasmtime, the upstream pump). Single-threaded, so per core. Group `handshake`.")
    add("")
    bare, ours = ns("handshake", "bare rustls"), ns("handshake", "host data path with the filter")
    if bare and ours:
        cost = 1 - bare / ours
        add("| | handshakes/s per core | time per handshake |")
        add("|---|---|---|")
        add(f"| bare rustls | {fmt(1e9 / bare)} | {fmt(bare / 1000, 'µs')} |")
        add(f"| host data path + filter | {fmt(1e9 / ours)} | {fmt(ours / 1000, 'µs')} |")
        add("")
        add(f"Throughput cost of the data path and filter: **{cost * 100:.1f}%** (goal < 3%: {ok(cost < 0.03)}).")
        add("")
    begin()

    def file_section(block, title, intro, path, indent=""):
        """A section whose body is a file a bench wrote, line by line; False when it is absent."""
        if not os.path.exists(path):
            return False
        add(f"### {title}")
        add("")
        begin(block)
        for line in intro:
            add(line)
        add("")
        with open(path) as f:
            for line in f.read().strip().splitlines():
                add(indent + line)
        return True

    # 3. Through both sidecars (written by host-runner/testbed/benches/sidecars.rs).
    if file_section(
        "sidecars",
        "Through both sidecars",
        [
            "An app's call through its client-side sidecar (the filter outbound, Istio mTLS origination with the",
            "workload's certificate) and the server's sidecar (rustls termination, the filter inbound) to the app,",
            "against bare rustls with the same certificates (the same client configuration and `ServerConfig`).",
        ],
        os.path.join(OUT, "sidecars.md"),
    ):
        add("")
        begin()

    # 3. simulate on the 200-service mesh (its last line, and /usr/bin/time's).
    if file_section(
        "simulate",
        "`meshlock simulate` on the 200-service synthetic mesh",
        [
            "Every call `reach` lists, each over a real connection through the client's and the server's sidecar",
            "([docs/simulate.md](docs/simulate.md)), 4 calls in flight:",
        ],
        os.path.join(OUT, "simulate-200.txt"),
        indent="    ",
    ):
        time_path = os.path.join(OUT, "simulate-200.time")
        if os.path.exists(time_path):
            with open(time_path) as f:
                add("    " + f.read().strip().splitlines()[-1])
        add("")
        begin()

    # 4. Envoy (written by host-runner/testbed/benches/envoy.rs).
    envoy_path = os.path.join(OUT, "envoy.json")
    if os.path.exists(envoy_path):
        with open(envoy_path) as f:
            env = json.load(f)
        add(f"## 4. {env.get('section', 'In Envoy')}")
        add("")
        begin("envoy")
        for note in env.get("notes", []):
            add(note)
        add("")
        add("| figure | value | baseline | ratio | goal | |")
        add("|---|---|---|---|---|---|")
        for r in env.get("rows", []):
            ratio = r.get("ratio")
            add(f"| {r['figure']} | {fmt(r['value'], r.get('unit', ''))} | {r.get('baseline_name') or ''} "
                f"{fmt(r.get('baseline'), r.get('unit', '')) if r.get('baseline') is not None else ''} "
                f"| {'' if ratio is None else f'{ratio:.3f}'} | {r.get('goal') or ''} | {ok(r.get('met'))} |")
        add("")
        add(f"Command: `{env.get('command', '')}`.")
        add("")
        begin()
    else:
        add("## 4. In Envoy")
        add("")
        add("Not measured in this run (`target/bench/envoy.json` missing).")
        add("")

    add("## 5. Start and size")
    add("")
    s1 = ns("start", "suite policies")
    begin("start" if s1 else None)
    s10, s50 = ns("start", "compiled, 10000-service mesh"), ns("start", "compiled, 50000-service mesh")
    if s1:
        add("VM start (instantiate + `on_configure`) with the compiled policy the shipped filter reads")
        add("(`meshlock compile`, docs/compiled-policy.md): it is the workload's own policy, so it must not grow")
        add("with the mesh. Before (the filter parsed and analysed the mesh's YAML in every VM) a VM start at")
        add("10,000 policies took 784 ms.")
        add("")
        add("| VM start | median | goal | |")
        add("|---|---|---|---|")
        add(f"| foo/httpbin, the suites' policies | {fmt(s1 / 1e6, 'ms')} | < 1 ms | {ok(s1 < 1e6)} |")
        if s10:
            add(f"| ns0/svc0 of the 10,000-service mesh | {fmt(s10 / 1e6, 'ms')} | < 1 ms | {ok(s10 < 1e6)} |")
        if s50:
            add(f"| ns0/svc0 of the 50,000-service mesh | {fmt(s50 / 1e6, 'ms')} | < 1 ms, ≈ the 10k figure | {ok(s50 < 1e6)} |")
        add("")
    begin()
    manifests = load_jsonl(os.path.join(OUT, "manifests.jsonl"))
    if manifests:
        begin("manifests")
        add("Mesh-scale delivery: `meshlock envoy-config --wasm-plugin --all --out DIR` writes one WasmPlugin per")
        add("workload, each carrying only that workload's compiled inbound policy (before: one workload's WasmPlugin")
        add("for the 10,000-service mesh was 10.7 MB, every input document in its `pluginConfig`).")
        add("")
        add("| mesh | manifests | total | largest | goal (largest) | | time to write all |")
        add("|---|---|---|---|---|---|---|")
        for m in manifests:
            add(f"| {m['services']:,} services | {m['manifests']:,} | {m['total_bytes'] / 1e6:.1f} MB | "
                f"{m['largest_bytes']:,} bytes | well under 1 MiB | {ok(m['largest_bytes'] < 256 * 1024)} | {fmt(m['ms'], 'ms')} |")
        add("")
        begin()
    sizes_path = os.path.join(OUT, "sizes.json")
    if os.path.exists(sizes_path):
        with open(sizes_path) as f:
            sizes = json.load(f)
        begin("sizes")
        add("| module | raw | gzip -9 | after wasm-opt -Oz | wasm-opt, gzip -9 |")
        add("|---|---|---|---|---|")
        kib = lambda b: "—" if b is None else f"{b / 1024:,.0f} KiB"
        for s in sizes:
            add(f"| {s['name']} | {kib(s['raw'])} | {kib(s['gz'])} | {kib(s.get('opt'))} | {kib(s.get('opt_gz'))} |")
        add("")
        begin()
    add("## Commands")
    add("")
    add("```")
    add("bash scripts/bench.sh [SECTION...]   # everything above (or those sections), then this file")
    add("cargo run --release -p meshlock-core --example scale -- run MESH.yaml RUNS")
    add("cargo run --release -p meshlock-core --example scale -- plan MESH.yaml RUNS")
    add("node scripts/bench/engine-wasm.mjs www/src/wasm MESH.yaml RUNS [FORM] [SUMMARY_LIMIT [EXAMPLES]]")
    add("cargo bench -p meshlock-testbed --bench datapath")
    add("cargo bench -p meshlock-testbed --bench envoy")
    add("cargo bench -p meshlock-core   # criterion: analyze and reach listing")
    add("```")
    path = os.path.join(ROOT, "BENCHMARKS.md")
    if os.path.exists(path):
        with open(path) as f:
            text, unplaced = splice(f.read(), parts)
        for block in unplaced:
            print(f"BENCHMARKS.md has no <!-- bench.sh:{block} --> block: those figures are only in {OUT}", file=sys.stderr)
    else:
        text = "".join("".join(line + "\n" for line in lines) if block is None else marked(block, lines)
                       for block, lines in parts)
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote BENCHMARKS.md (blocks: {', '.join(sorted(MEASURED))})", file=sys.stderr)


if __name__ == "__main__":
    main()
