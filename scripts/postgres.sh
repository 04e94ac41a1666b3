#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests, on a unix socket only (no TCP port), with the
# distribution's server binaries (Debian's `postgresql` package, which .ci/run installs).
#
#   scripts/postgres.sh start DIR   initialises DIR/data, starts the server with its socket in
#                                   DIR, and prints the libpq connection string (no dbname)
#   scripts/postgres.sh stop DIR    stops it (DIR can then be removed)
#
# The server refuses to run as root: under root it runs as the `postgres` system user.
# Authentication is `trust` over the socket; the socket's directory is the only way in.
set -euo pipefail
cmd="${1:?usage: scripts/postgres.sh start|stop DIR}"
dir="${2:?usage: scripts/postgres.sh start|stop DIR}"

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "scripts/postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql; install Debian's postgresql package" >&2
  exit 1
fi
as_server() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    chmod 700 "$dir"
    as_server "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # fsync and synchronous_commit stay on: the ledger's durability is part of what is tested.
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -s \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=400 -c shared_buffers=64MB" start \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "host=$dir user=postgres"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -s stop
    fi
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
