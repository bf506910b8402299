#!/usr/bin/env bash
# The import graph of core/src between top-level modules (`foo.rs` and `foo/…` count as `foo`),
# from every `crate::MODULE` path outside comments, test modules included. Prints one
# `from -> to` edge a line and fails when the graph has a cycle (docs/architecture.md, "core
# modules", gives the order it must keep).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/core/src"
edges="$(
  find . -name '*.rs' | sort | while read -r f; do
    from="$(echo "$f" | sed 's#^\./##; s#\.rs$##; s#/.*##')"
    { grep -v '^ *//' "$f" || true; } | { grep -o 'crate::[a-z_]*' || true; } | sed 's/crate:://' | sort -u |
      while read -r to; do
        if [ -n "$to" ] && [ "$to" != "$from" ]; then echo "$from -> $to"; fi
      done
  done | sort -u
)"
echo "$edges"
# tsort reports a loop on stderr and exits non-zero.
if ! echo "$edges" | awk '{print $3, $1}' | tsort > /dev/null; then
  echo "core/src has an import cycle (see the loop above)" >&2
  exit 1
fi
