#!/usr/bin/env bash
# `make bundle-check`: builds the bundle (tools/bundle.sh), unpacks it into a scratch directory
# and runs it from outside the checkout with an empty environment: every library the executable
# loads must come from the bundle, `rada info` must name the bundled OpenBLAS and BLIS, and a
# zero-shot classify with the bundled model must answer.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /tmp/rada-bundle-check-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
"$repo/tools/bundle.sh" "$scratch/rada-bundle.tar.xz"
mkdir "$scratch/unpacked"
tar -C "$scratch/unpacked" -xJf "$scratch/rada-bundle.tar.xz"
root=$scratch/unpacked/rada
lib=$root/lib/rada
outside=$("$lib/ld-linux-x86-64.so.2" --library-path "$lib" --list "$lib/rada.bin" | awk '$2 == "=>" {print $3}' | grep -v "^$lib/" || true)
[ -z "$outside" ] || { echo "bundle-check: loaded from outside the bundle: $outside" >&2; exit 1; }
cd /
run() { env -i PATH=/usr/bin:/bin "$root/bin/rada" "$@"; }
run info | tee "$scratch/info.txt"
grep -q "^blas.library: $lib/libopenblas.so.0$" "$scratch/info.txt"
grep -q "^blas.caller_thread_library: $lib/libblis.so.4$" "$scratch/info.txt"
run corrupt --corruption contrast --severity 5 --limit 1 --out "$scratch/fm" > /dev/null
image=$(find "$scratch/fm" -name '*.png' | sort | head -1)
run classify --top 1 --json "$image" | tee "$scratch/classify.json"
grep -q '"label"' "$scratch/classify.json"
echo "bundle-check: passed"
