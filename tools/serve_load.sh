#!/usr/bin/env bash
# The serving-load figures of Docs/benchmarks.md ("Serving load"), all in one run: starts
# `rada serve` on loopback with two API keys (a light and a heavy client), drives it with
# tools/load_test.py (which measures the in-process cost first, in the same run), stops it.
#
#   tools/serve_load.sh RADA_BIN OUT_DIR [MODEL_DIR]
#
# Without MODEL_DIR: the embedded model at K = 10 (1, 10, 100, 1000 streams) and K = 1000
# (1, 10 streams), then one light client alone and beside each heavy client. ISOLATE=1 pins the
# server to CPU 1 and the load generator to CPU 0 (see below). With MODEL_DIR
# (for example a random ViT-B/32 from tools/make_reference.py): K = 10 and K = 1000, one stream.
# CGROUP=DIR starts the server in that cgroup (a directory of a cgroup hierarchy with a CPU
# quota, made by root beforehand), as in a container limited to fewer CPUs than the host has.
# TRACE=1 also writes each request's start and latency to OUT_DIR/trace.STREAMS.HEAVY.tsv.
set -euo pipefail
rada=$(realpath "$1"); out=$2; model=${3:-}
mkdir -p "$out"
data=$(mktemp -d); keys=$data/keys
printf 'light light-key-0123456789\nheavy heavy-key-0123456789\n' > "$keys"
port=18191
args=(serve --port "$port" --data-dir "$data/streams" --api-keys "$keys" --max-connections 4096 --max-client-requests 4096)
[ -n "$model" ] && args+=(--model "$model")
# ISOLATE=1: the server (and its in-process floor) on CPU 1, the load generator on CPU 0, as
# when clients run on other machines; without it all three share every core.
pin_server=() pin_client=() cpus=()
if [ -n "${ISOLATE:-}" ]; then pin_server=(taskset -c 1); pin_client=(taskset -c 0); cpus=(--server-cpus 1); fi
if [ -n "${CGROUP:-}" ]; then pin_server=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CGROUP" "${pin_server[@]}"); fi
"${pin_server[@]}" "$rada" "${args[@]}" > "$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.2; done
load() { "${pin_client[@]}" python3 "$(dirname "$0")/load_test.py" "${cpus[@]}" --server-pid "$server" --url "http://127.0.0.1:$port" --key light-key-0123456789 \
    --heavy-key heavy-key-0123456789 --rada "$rada" ${model:+--model "$model"} ${TRACE:+--trace "$out/trace"} "$@"; }
if [ -n "${QUICK:-}" ]; then  # a smoke test of this script: one short level of each kind
  load --streams 1 --duration "${QUICK}" --heavy "${HEAVY:-images}" ${MULTIPART:+--multipart}; exit 0
fi
{
  echo "# $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -z "$model" ]; then
    load --streams 1,10,100,1000 --duration 8
    load --streams 1 --duration 8 --multipart
    load --streams 1,10 --duration 8 --classes 1000
    for heavy in none images text stream; do load --streams 1 --duration 10 --heavy $heavy; done
  else
    load --streams 1 --duration 20
    load --streams 1 --duration 30 --classes 1000
  fi
  echo "# done $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$out/load.md"
