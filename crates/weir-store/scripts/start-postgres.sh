#!/usr/bin/env bash
# Starts a local PostgreSQL 15 for weir-store's conformance suite, idempotently:
# installs Debian's `postgresql` if missing, starts the `15 main` cluster if it is down,
# creates the `weir` role and the `weir_test` database if missing, and prints the URL
# (alone, on stdout; progress goes to stderr) to export as WEIR_TEST_POSTGRES_URL.
#
# Usage: export WEIR_TEST_POSTGRES_URL="$(crates/weir-store/scripts/start-postgres.sh)"
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
PG_CLUSTER="${PG_CLUSTER:-main}"
PG_PORT="${PG_PORT:-5432}"
ROLE="${WEIR_PG_ROLE:-weir}"
PASSWORD="${WEIR_PG_PASSWORD:-weir}"
DB="${WEIR_PG_DB:-weir_test}"

log() { echo "start-postgres: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        su postgres -c "$*"
    else
        sudo -u postgres sh -c "$*"
    fi
}

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ]; then
    log "installing postgresql"
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >&2
fi

if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; then
    log "creating cluster $PG_VERSION/$PG_CLUSTER"
    as_root pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" >&2
fi

if ! pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c && $4=="online" {found=1} END {exit !found}'; then
    log "starting cluster $PG_VERSION/$PG_CLUSTER"
    as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >&2
fi

# Wait until it accepts connections.
for _ in $(seq 1 50); do
    if as_postgres "psql -p $PG_PORT -tAc 'SELECT 1'" >/dev/null 2>&1; then break; fi
    sleep 0.2
done

if [ "$(as_postgres "psql -p $PG_PORT -tAc \"SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'\"")" != "1" ]; then
    log "creating role $ROLE"
    as_postgres "psql -p $PG_PORT -qc \"CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD '$PASSWORD'\"" >&2
fi

if [ "$(as_postgres "psql -p $PG_PORT -tAc \"SELECT 1 FROM pg_database WHERE datname = '$DB'\"")" != "1" ]; then
    log "creating database $DB"
    as_postgres "createdb -p $PG_PORT -O $ROLE $DB" >&2
fi

URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PG_PORT/$DB"
log "ready: $URL"
echo "$URL"
