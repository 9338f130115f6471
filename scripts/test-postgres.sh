#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the test suite and print its TEST_DATABASE_URL.
# Installs the server with apt when it is missing. Data lives in /tmp; stop it with
#   scripts/test-postgres.sh stop
set -euo pipefail
PORT="${PGTEST_PORT:-54329}"
DATA="${PGTEST_DATA:-/tmp/loyaltybot-pgtest}"
SOCK="/tmp"

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

BIN="$(find_bin || true)"
if [ -z "$BIN" ]; then
  echo "installing PostgreSQL server (apt)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(find_bin)"
fi

run_as() {
  if [ "$(id -u)" = "0" ]; then
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

if [ "${1:-start}" = "stop" ]; then
  run_as "$BIN/pg_ctl -D $DATA -m fast stop" >&2 || true
  exit 0
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA"
  [ "$(id -u)" = "0" ] && chown postgres "$DATA"
  run_as "$BIN/initdb -D $DATA -U postgres --auth=trust -E UTF8 >/dev/null"
  cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
fi
if ! run_as "$BIN/pg_ctl -D $DATA status" >/dev/null 2>&1; then
  run_as "$BIN/pg_ctl -D $DATA -l $DATA/server.log -w start" >&2
fi
echo "postgresql+asyncpg://postgres@127.0.0.1:$PORT/postgres"
