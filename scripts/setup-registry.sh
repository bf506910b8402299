#!/usr/bin/env bash
# Installs what the OCI registry tests need, skipping what is already there, and says what it
# does: Debian's docker-registry (the CNCF distribution server, started by the test on 127.0.0.1)
# and skopeo (checks what was pushed). Called by test.sh only: the demo needs neither.
set -euo pipefail

say() { printf '[setup] %s\n' "$*"; }

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
