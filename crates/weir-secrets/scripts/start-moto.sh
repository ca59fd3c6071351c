#!/usr/bin/env bash
# Starts moto's server (an AWS API emulator from PyPI) for the AWS Secrets Manager tests,
# unless one already answers, and prints its URL. The virtualenv is made once, in
# $WEIR_MOTO_VENV (default /var/cache/weir-ci/moto-venv), and reused.
#
# Usage: crates/weir-secrets/scripts/start-moto.sh   -> http://127.0.0.1:5057
set -euo pipefail
PORT="${WEIR_MOTO_PORT:-5057}"
URL="http://127.0.0.1:${PORT}"
VENV="${WEIR_MOTO_VENV:-/var/cache/weir-ci/moto-venv}"

answers() {
    python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "${URL}/moto-api/" >/dev/null 2>&1
}

if answers; then
    echo "$URL"
    exit 0
fi
if [ ! -x "$VENV/bin/moto_server" ]; then
    echo "== installing moto[server] into $VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet 'moto[server]>=5,<6' >&2
fi
LOG="${TMPDIR:-/tmp}/weir-moto-${PORT}.log"
nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
for _ in $(seq 1 100); do
    if answers; then
        echo "$URL"
        exit 0
    fi
    sleep 0.2
done
echo "moto_server did not start on port $PORT; see $LOG" >&2
exit 1
