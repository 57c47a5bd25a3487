#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and the local cluster: initdb in a scratch directory, loopback
# only, on a free port, stopped and removed by `stop`. PostgreSQL refuses to run as root, so as
# root it runs as the `postgres` user (from Debian's postgresql package).
#   tools/pg-scratch.sh start DIR   prints the store URL (postgres://rada@127.0.0.1:PORT/rada)
#   tools/pg-scratch.sh stop DIR
#   tools/pg-scratch.sh run CMD…    CMD with RADA_TEST_POSTGRES_URL set to a scratch server that
#                                   is stopped and removed afterwards; exits with CMD's status
set -euo pipefail
if [ "${1:-}" = run ]; then
  shift
  dir=$(mktemp -d /tmp/rada-test-pg-XXXXXX)
  url=$("$0" start "$dir") || { "$0" stop "$dir"; exit 1; }
  echo "scratch PostgreSQL at $url"
  status=0
  RADA_TEST_POSTGRES_URL=$url "$@" || status=$?
  "$0" stop "$dir"
  exit $status
fi
command=${1:?start or stop}
dir=${2:?scratch directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found: apt-get install postgresql" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case $command in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -A trust -U rada --no-sync >/dev/null
  # A free port: a random one nobody answers on; PostgreSQL itself refuses one taken meanwhile,
  # and then the next is tried.
  for attempt in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && continue
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >/dev/null && break
    port=""
  done
  [ -n "$port" ] || { echo "PostgreSQL did not start; see $dir/server.log" >&2; exit 1; }
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U rada rada
  echo "postgres://rada@127.0.0.1:$port/rada"
  ;;
stop)
  [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR | run CMD…" >&2; exit 2 ;;
esac
