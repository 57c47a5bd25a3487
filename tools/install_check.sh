#!/usr/bin/env bash
# `make install-check`: `make install` into a temporary PREFIX, then the installed binary, run
# from outside the checkout, must find its installed model: `rada info`, a zero-shot classify of
# a Fashion-MNIST image, and a short `rada serve` (ready, one stream, one classify, SIGTERM).
# Removing the installed model must then make the classify fail: the copy in PREFIX was the one used.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(mktemp -d /tmp/rada-install-XXXXXX)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$prefix"
}
trap cleanup EXIT
make -C "$repo" --no-print-directory install PREFIX="$prefix"
rada="$prefix/bin/rada"
for f in bin/rada share/rada/models/fashion-clip/model.safetensors share/rada/models/fashion-clip/config.json \
         share/rada/deploy/rada.service share/rada/deploy/nginx-tls.conf share/rada/deploy/README.md; do
  test -f "$prefix/$f" || { echo "install-check: $f was not installed" >&2; exit 1; }
done
grep -q "^ExecStart=$prefix/bin/rada serve" "$prefix/share/rada/deploy/rada.service"

cd /
unset RADA_MODEL
"$rada" info
"$rada" corrupt --corruption contrast --severity 5 --limit 1 --out "$prefix/fm" > /dev/null
image=$(find "$prefix/fm" -name '*.png' | sort | head -1)
"$rada" classify --top 1 --json "$image" | tee "$prefix/classify.json"
grep -q '"label"' "$prefix/classify.json"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$rada" serve --port "$port" --data-dir "$prefix/data" > "$prefix/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 240); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$prefix/serve.log"; exit 1; }
  sleep 0.5
done
curl -fs "http://127.0.0.1:$port/readyz"; echo
curl -fs -X POST "http://127.0.0.1:$port/v1/streams" -H 'content-type: application/json' \
  -d '{"id": "s", "labels": ["T-shirt/top","Trouser","Pullover","Dress","Coat","Sandal","Shirt","Sneaker","Bag","Ankle boot"]}' > /dev/null
answer=$(curl -fs -X POST "http://127.0.0.1:$port/v1/streams/s/classify?top=1" -F "image=@$image")
echo "$answer"
echo "$answer" | grep -q '"request":1'
kill -TERM "$server"; wait "$server" || true; server=""
test -d "$prefix/data/clients/local/streams/s" || { echo "install-check: the stream was not kept" >&2; exit 1; }

rm -rf "$prefix/share/rada/models"
if "$rada" classify --top 1 "$image" 2> "$prefix/missing.log"; then
  echo "install-check: classify worked without the installed model: it was not the one used" >&2; exit 1
fi
grep -q "share/rada/models/fashion-clip" "$prefix/missing.log"
echo "install-check: passed"
