#!/usr/bin/env bash
# Makes (once) a virtualenv with the official Prometheus Python client (PyPI's
# `prometheus-client`), whose OpenMetrics parser checks `GET /metrics` in
# crates/weir/tests/metrics.rs, and prints its interpreter's path. The virtualenv is
# $WEIR_PROMETHEUS_VENV (default /var/cache/weir-ci/prometheus-venv), reused after.
#
# Usage: crates/weir/scripts/prometheus-parser.sh   -> /var/cache/weir-ci/prometheus-venv/bin/python
set -euo pipefail
VENV="${WEIR_PROMETHEUS_VENV:-/var/cache/weir-ci/prometheus-venv}"
PYTHON="${WEIR_PYTHON:-python3}"

if ! "$VENV/bin/python" -c "import prometheus_client.openmetrics.parser" >/dev/null 2>&1; then
    echo "== installing prometheus-client into $VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input \
        'prometheus-client>=0.20,<1' >&2
fi
echo "$VENV/bin/python"
