#!/usr/bin/env python3
"""Where a wasm module's bytes are: code size per function, grouped by crate and area.

    python3 scripts/bench/wasm-sizes.py MODULE.wasm [--top N] [--group]

Needs a module that still has its name section (build the filter with
CARGO_PROFILE_RELEASE_WASM_STRIP=none into its own --target-dir, so the shipped build is not
invalidated). Prints the section sizes, then the largest functions (demangled roughly: the
legacy Rust mangling's path segments joined with ::), then the code bytes per group."""
import argparse
import re
import sys
from collections import defaultdict


def leb(data, pos):
    result, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, pos


def sections(data):
    if data[:4] != b"\0asm":
        sys.exit("not a wasm module")
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, body = leb(data, pos + 1)
        yield sid, data[body:body + size]
        pos = body + size


def imported_functions(body):
    count, pos = leb(body, 0)
    funcs = 0
    for _ in range(count):
        for _ in range(2):
            n, pos = leb(body, pos)
            pos += n
        kind = body[pos]
        pos += 1
        if kind == 0:
            _, pos = leb(body, pos)
            funcs += 1
        elif kind == 1:
            pos += 1
            flags, pos = leb(body, pos)
            _, pos = leb(body, pos)
            if flags & 1:
                _, pos = leb(body, pos)
        elif kind == 2:
            flags, pos = leb(body, pos)
            _, pos = leb(body, pos)
            if flags & 1:
                _, pos = leb(body, pos)
        elif kind == 3:
            pos += 2
    return funcs


def code_sizes(body):
    count, pos = leb(body, 0)
    sizes = []
    for _ in range(count):
        size, start = leb(body, pos)
        sizes.append(size + (start - pos))
        pos = start + size
    return sizes


def function_names(body):
    names, pos = {}, 0
    while pos < len(body):
        sub = body[pos]
        size, start = leb(body, pos + 1)
        if sub == 1:
            count, p = leb(body, start)
            for _ in range(count):
                idx, p = leb(body, p)
                n, p = leb(body, p)
                names[idx] = body[p:p + n].decode("utf-8", "replace")
                p += n
        pos = start + size
    return names


def demangle(name):
    """`_ZN4core3fmt5write17h…E` → `core::fmt::write` (legacy mangling, roughly)."""
    if name.startswith("_R"):
        return demangle_v0(name)
    m = re.match(r"_ZN(.*)E$", name)
    if not m:
        return name
    rest, parts = m.group(1), []
    while rest and rest[0].isdigit():
        n = re.match(r"\d+", rest).group(0)
        rest = rest[len(n):]
        part = rest[:int(n)]
        rest = rest[int(n):]
        if re.fullmatch(r"h[0-9a-f]{16}", part):
            continue
        parts.append(part)
    out = "::".join(parts)
    for code, ch in (("$LT$", "<"), ("$GT$", ">"), ("$u20$", " "), ("$RF$", "&"), ("$C$", ","),
                     ("$u7b$", "{"), ("$u7d$", "}"), ("$u5b$", "["), ("$u5d$", "]"), ("..", "::"),
                     ("$BP$", "*"), ("$u27$", "'"), ("$LP$", "("), ("$RP$", ")")):
        out = out.replace(code, ch)
    return out


def demangle_v0(name):
    """The v0 mangling (`_RNvNtCs…_4core3fmt5write`), crudely: its identifiers joined with ::
    (enough to group by crate and module)."""
    parts, pos = [], 2
    while pos < len(name):
        m = re.compile(r"(\d+)_?").match(name, pos)
        if not m:
            pos += 1
            continue
        n = int(m.group(1))
        ident = name[m.end():m.end() + n]
        if n and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ident):
            parts.append(ident)
            pos = m.end() + n
        else:
            pos = m.end()
    return "::".join(parts)


GROUPS = [
    ("proxy-wasm SDK", r"proxy_wasm"),
    ("hashbrown / HashMap", r"hashbrown|HashMap|RawTable"),
    ("BTreeMap / BTreeSet", r"btree|BTree"),
    ("float formatting", r"flt2dec|float|dec2flt|grisu|dragon|f64|f32"),
    ("core::fmt", r"core::fmt|fmt::|Display|Debug|write_str|write_fmt|pad_integral|Formatter"),
    ("panic machinery", r"panic|unwind|backtrace|abort|rust_begin_unwind"),
    ("filter config reader", r"meshlock_filter::config::read"),
    ("filter (other)", r"meshlock_filter"),
    ("core: enforce", r"meshlock_core::enforce"),
    ("core: compile", r"meshlock_core::compile"),
    ("core (other)", r"meshlock_core"),
    ("allocator", r"dlmalloc|alloc::alloc|__rust_alloc|__rust_dealloc|__rust_realloc|malloc|free"),
    ("alloc (Vec/String/…)", r"alloc::"),
    ("std / wasi", r"std::|wasi|__wasi|environ"),
    ("core (lib)", r"core::"),
    ("memcpy / compiler builtins", r"memcpy|memmove|memset|memcmp|compiler_builtins|bcmp"),
]


def group_of(name):
    for label, pattern in GROUPS:
        if re.search(pattern, name):
            return label
    return "other"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("module")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    data = open(args.module, "rb").read()
    imports, codes, names = 0, [], {}
    print(f"{'section':<24} {'bytes':>9}")
    for sid, body in sections(data):
        label = {1: "type", 2: "import", 3: "function", 5: "memory", 6: "global", 7: "export",
                 9: "element", 10: "code", 11: "data", 12: "datacount"}.get(sid, f"id {sid}")
        if sid == 0:
            n, p = leb(body, 0)
            label = "custom " + body[p:p + n].decode("utf-8", "replace")
            if label == "custom name":
                names = function_names(body[p + n:])
        elif sid == 2:
            imports = imported_functions(body)
        elif sid == 10:
            codes = code_sizes(body)
        print(f"{label:<24} {len(body):>9}")
    funcs = []
    for i, size in enumerate(codes):
        raw = names.get(imports + i, f"func[{imports + i}]")
        funcs.append((size, demangle(raw)))
    total = sum(codes)
    print(f"\ncode: {len(codes)} functions, {total} bytes\n")
    print(f"largest {args.top}:")
    for size, name in sorted(funcs, reverse=True)[:args.top]:
        print(f"{size:>8}  {name[:150]}")
    groups = defaultdict(lambda: [0, 0])
    for size, name in funcs:
        g = groups[group_of(name)]
        g[0] += size
        g[1] += 1
    print("\nby group:")
    for label, (size, n) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        print(f"{size:>8}  {100 * size / max(total, 1):5.1f}%  {n:>4} fn  {label}")


if __name__ == "__main__":
    main()
