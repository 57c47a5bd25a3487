#!/usr/bin/env bash
# A local cluster on loopback: a scratch PostgreSQL, N `rada serve` replicas sharing it, and
# HAProxy (configured by `rada cluster-config`) in front of them on PORT.
#   tools/cluster.sh start DIR [N=3] [PORT=8080] [extra rada serve flags…]   (release binary)
#   tools/cluster.sh stop DIR
# Every client of a loopback cluster has one address: a load test holding more than 128
# connections at once sets CLUSTER_MAX_CLIENT_CONNECTIONS (0: no limit at the proxy).
# Everything it starts is recorded in DIR and stopped by `stop`.
set -euo pipefail
command=${1:?start or stop}
dir=${2:?state directory}
here=$(cd "$(dirname "$0")" && pwd)
rada=${RADA:-$here/../.build/release/rada}

case $command in
start)
  replicas=${3:-3}; port=${4:-8080}; shift $(( $# < 4 ? $# : 4 ))
  mkdir -p "$dir"
  url=$("$here/pg-scratch.sh" start "$dir/pg")
  echo "$url" > "$dir/store-url"
  servers=()
  for i in $(seq 1 "$replicas"); do
    p=$((port + i))
    "$rada" serve --store "$url" --server-id "replica$i" --port "$p" --data-dir "$dir/unused" "$@" \
      > "$dir/replica$i.log" 2>&1 &
    echo $! >> "$dir/pids"
    servers+=(--server "127.0.0.1:$p")
  done
  for i in $(seq 1 "$replicas"); do
    for _ in $(seq 1 600); do curl -sf "127.0.0.1:$((port + i))/readyz" >/dev/null && break; sleep 0.1; done
  done
  "$rada" cluster-config --listen "127.0.0.1:$port" "${servers[@]}" \
    ${CLUSTER_MAX_CLIENT_CONNECTIONS:+--max-client-connections "$CLUSTER_MAX_CLIENT_CONNECTIONS"} > "$dir/haproxy.cfg"
  haproxy -db -f "$dir/haproxy.cfg" > "$dir/haproxy.log" 2>&1 &
  echo $! >> "$dir/pids"
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  echo "cluster: proxy on 127.0.0.1:$port, $replicas replicas on $((port + 1))-$((port + replicas)), store $url"
  ;;
stop)
  if [ -f "$dir/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$dir/pids"
    while read -r pid; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done < "$dir/pids"
  fi
  "$here/pg-scratch.sh" stop "$dir/pg"
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start DIR [N] [PORT] [serve flags…] | stop DIR" >&2; exit 2 ;;
esac
