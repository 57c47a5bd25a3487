#!/usr/bin/env bash
# Runs a command against a live release server: `rada serve` with one API key, on a free
# loopback port and a fresh data directory. The command sees RADA_URL and RADA_KEY; the server
# is stopped (and its data removed) when the command ends, and its exit status is the script's.
set -euo pipefail
RADA=${RADA:-.build/release/rada}
PORT=${RADA_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
work=$(mktemp -d)
key=contract-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')
echo "contract $key" > "$work/keys"
"$RADA" serve --host 127.0.0.1 --port "$PORT" --data-dir "$work/data" --api-keys "$work/keys" > "$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ -n "${RADA_SERVER_LOG:-}" ]; then cp "$work/server.log" "$RADA_SERVER_LOG"; fi
  rm -rf "$work"
}
trap cleanup EXIT
ready=""
for _ in $(seq 1 240); do
  if curl -fs "http://127.0.0.1:$PORT/readyz" > /dev/null 2>&1; then ready=1; break; fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$ready" ]; then cat "$work/server.log"; echo "the server did not become ready" >&2; exit 1; fi
RADA_URL="http://127.0.0.1:$PORT" RADA_KEY="$key" "$@"
