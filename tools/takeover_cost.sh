#!/usr/bin/env bash
# What a takeover costs, and PostgreSQL's commit rate on this machine (Docs/scaling.md):
#   tools/takeover_cost.sh [WORK_DIR]     (release build: make build)
# pgbench -N with 1 and 8 clients on a scratch PostgreSQL; then, per store (local, PostgreSQL),
# server A (the embedded model) writes three streams of 63 journal records (no snapshot since
# creation: the most `--snapshot-every 64` leaves) and three of 64 (just snapshotted), dies by
# kill -9; server B opens each: its first GET loads the stream (lease, snapshot, replay), the
# second is the warm cost. Ports 18301-18302.
set -uo pipefail
W=$(cd "$(dirname "$0")/.." && pwd)
B=${RADA:-$W/.build/release/rada}
IMG=$W/Tests/Fixtures/images/jpeg_rgb.jpg
M=${1:-$(mktemp -d /tmp/rada-takeover-XXXXXX)}
mkdir -p "$M" && chmod 755 "$M"   # the postgres user (pg-scratch.sh as root) must reach $M/pg
echo "== $(date -u +%H:%M:%S) $(uptime)"; lscpu | grep "Model name"
PG=$($W/tools/pg-scratch.sh start $M/pg) || exit 1
echo "PG $PG"
pgb=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pgbench
$pgb -i -q "$PG" >/dev/null 2>&1
for c in 1 8; do echo "pgbench -c $c: $(uptime | sed 's/.*load/load/')"; $pgb -c $c -j 2 -T 8 -N "$PG" 2>&1 | grep -E "tps|latency average"; done
b64=$(base64 -w0 $IMG)
body="{\"images\":[\"$b64\"]}"
labels='["t-shirt","trouser","pullover","dress","coat","sandal","shirt","sneaker","bag","ankle boot"]'
ready() { for _ in $(seq 1 600); do curl -sf 127.0.0.1:$1/readyz >/dev/null && return 0; sleep 0.1; done; return 1; }
run_store() {  # $1 = local|postgres
  local kind=$1 store=() dir=$M/data-$1
  rm -rf $dir
  [ $kind = postgres ] && store=(--store "$PG?schema=takeover" --lease-seconds 2)
  $B serve --port 18301 --data-dir $dir --snapshot-every 64 --server-id a "${store[@]}" > $M/a-$kind.log 2>&1 &
  local a=$!; ready 18301 || { echo "A not ready"; cat $M/a-$kind.log; return; }
  for s in full1 full2 full3 snap1 snap2 snap3; do
    curl -s -o /dev/null -XPOST 127.0.0.1:18301/v1/streams -H 'content-type: application/json' -d "{\"id\":\"$s\",\"labels\":$labels}"
  done
  for s in full1 full2 full3; do for i in $(seq 1 63); do curl -s -o /dev/null -XPOST 127.0.0.1:18301/v1/streams/$s/classify -H 'content-type: application/json' -d "$body"; done; done
  for s in snap1 snap2 snap3; do for i in $(seq 1 64); do curl -s -o /dev/null -XPOST 127.0.0.1:18301/v1/streams/$s/classify -H 'content-type: application/json' -d "$body"; done; done
  curl -s 127.0.0.1:18301/v1/streams/full1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("requests",d["requests"],"memoryBytes",d["memoryBytes"])'
  kill -9 $a; wait $a 2>/dev/null
  $B serve --port 18302 --data-dir $dir --snapshot-every 64 --server-id b "${store[@]}" > $M/b-$kind.log 2>&1 &
  local b=$!; ready 18302 || { echo "B not ready"; return; }
  sleep 2.5
  # warm the server: one stream of its own
  curl -s -o /dev/null -XPOST 127.0.0.1:18302/v1/streams -H 'content-type: application/json' -d "{\"id\":\"warm\",\"labels\":$labels}"
  curl -s -o /dev/null -XPOST 127.0.0.1:18302/v1/streams/warm/classify -H 'content-type: application/json' -d "$body"
  echo "$kind $(uptime | sed 's/.*load/load/')"
  for s in full1 full2 full3 snap1 snap2 snap3; do
    cold=$(curl -s -o /dev/null -w '%{time_total}' 127.0.0.1:18302/v1/streams/$s)
    warm=$(curl -s -o /dev/null -w '%{time_total}' 127.0.0.1:18302/v1/streams/$s)
    echo "  $kind $s cold GET ${cold}s warm GET ${warm}s"
  done
  kill $b; wait $b 2>/dev/null
}
run_store local
run_store postgres
$W/tools/pg-scratch.sh stop $M/pg
echo "== done $(date -u +%H:%M:%S)"
