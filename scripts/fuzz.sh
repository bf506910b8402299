#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target in fuzz/ (outside the workspace; nightly, libFuzzer + ASan):
#   1. installs cargo-fuzz (pinned) into .tools/ unless it is there;
#   2. writes the seed corpora into fuzz/corpus/<target>/ from the repo (fuzz/seeds.py);
#   3. builds all targets once (release, with debug assertions and overflow checks);
#   4. runs each for SECONDS_PER_TARGET, bounded also by -runs and -rss_limit_mb, and prints the
#      executions per target and the path of any crash.
# Exits non-zero when a target crashes (or fails to build). Corpora grow across runs.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]    (default 15; test.sh's smoke run)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-15}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: SECONDS_PER_TARGET must be a positive integer" >&2; exit 2; }
CARGO_FUZZ_VERSION=0.13.1
targets=(parse parse_differential filter_config filter_properties host_sniff_http)
# A runaway input is a finding, not a hang: a second per input is generous for these targets.
libfuzzer_flags=(-max_total_time="$seconds" -runs=$((seconds * 1000000)) -rss_limit_mb=2048 -timeout=10
    -print_final_stats=1)
build_flags=(--release --debug-assertions)

say() { printf 'fuzz: %s\n' "$*" >&2; }

if ! rustup toolchain list | grep -q '^nightly'; then
    say "the nightly toolchain is missing (rustup toolchain install nightly)"
    exit 2
fi
if [[ "$(.tools/bin/cargo-fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/"
    cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root .tools
fi
export PATH="$root/.tools/bin:$PATH"

python3 fuzz/seeds.py "$root"

say "building ${targets[*]}"
(cd fuzz && cargo +nightly fuzz build "${build_flags[@]}")

mkdir -p fuzz/logs
crashed=0
for target in "${targets[@]}"; do
    log="fuzz/logs/$target.log"
    status=0
    # The YAML front door must refuse big hostile input in linear time: inputs up to a
    # megabyte (nested `[[[`, `{a: {a:`, `- - -` of that size), each within a 5 s budget
    # (debug assertions and ASan included) — a quadratic path is a timeout, i.e. a finding.
    extra=()
    [[ "$target" == parse ]] && extra=(-max_len=1048576 -timeout=5)
    (cd fuzz && timeout $((seconds + 120)) cargo +nightly fuzz run "${build_flags[@]}" "$target" "corpus/$target" \
        -- "${libfuzzer_flags[@]}" "${extra[@]}") >"$log" 2>&1 || status=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
    corpus_size="$(find "fuzz/corpus/$target" -type f | wc -l)"
    if [[ "$status" -eq 0 ]]; then
        printf 'fuzz: %-18s %10s executions in %ss, corpus %s, no crash\n' "$target" "${execs:-?}" "$seconds" "$corpus_size"
    else
        crashed=1
        printf 'fuzz: %-18s FAILED (exit %s) after %s executions; log %s\n' "$target" "$status" "${execs:-?}" "$log"
        grep -E 'Test unit written to|panicked at|ERROR: (libFuzzer|AddressSanitizer)' "$log" | sed 's/^/fuzz:   /' || true
    fi
done
exit "$crashed"
