#!/usr/bin/env bash
# `make bundle`: the release `rada` as one tarball that runs on an x86-64 Linux machine with no
# Swift toolchain and none of the Debian packages installed: `make install`'s layout (bin/,
# share/rada/models/fashion-clip, share/rada/deploy) plus lib/rada/, which holds the executable
# and every shared library it loads (the Swift runtime and Foundation with ICU, OpenBLAS and the
# caller-thread BLIS, libpng, libjpeg, glibc and its loader). bin/rada is a small script that runs
# the executable through the bundled loader, so the host's own C library is never mixed in.
# For measuring on machines of other kinds (Docs/benchmarks.md, the Intel run) and for hosts
# without the toolchain. Checked by `make bundle-check` (tools/bundle_check.sh).
# Usage: tools/bundle.sh [OUT.tar.xz]   (default bundle-out/rada-bundle.tar.xz; needs `make build`)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/bundle-out/rada-bundle.tar.xz}
case $out in /*) ;; *) out=$PWD/$out ;; esac
binary=$repo/.build/release/rada
[ -x "$binary" ] || { echo "bundle: $binary is missing: run make build first" >&2; exit 1; }
stage=$(mktemp -d /tmp/rada-bundle-XXXXXX)
trap 'rm -rf "$stage"' EXIT
root=$stage/rada
make -C "$repo" --no-print-directory install PREFIX="$root" > /dev/null
rm "$root/bin/rada"
lib=$root/lib/rada
mkdir -p "$lib"
cp "$binary" "$lib/rada.bin"
strip "$lib/rada.bin"
# What the dynamic linker loads at start, then what rada opens with dlopen (OpenBLAS, found
# through Debian's alternatives, and BLIS) and what those need.
openblas=$(readlink -f /usr/lib/x86_64-linux-gnu/libopenblas.so.0)
blis=$(readlink -f /usr/lib/x86_64-linux-gnu/blis-serial/libblis.so.4)
for object in "$binary" "$openblas" "$blis"; do
  ldd "$object" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}'
done | sort -u | while read -r library; do cp -L "$library" "$lib/"; done
cp -L "$openblas" "$lib/libopenblas.so.0"
cp -L "$blis" "$lib/libblis.so.4"
cat > "$root/bin/rada" <<'SCRIPT'
#!/bin/sh
# rada from a bundle (tools/bundle.sh): the executable runs through the bundled loader and libraries.
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
lib=$root/lib/rada
export RADA_BLAS_LIBRARY="${RADA_BLAS_LIBRARY:-$lib/libopenblas.so.0}"
export RADA_BLAS_SERIAL_LIBRARY="${RADA_BLAS_SERIAL_LIBRARY:-$lib/libblis.so.4}"
export RADA_MODEL="${RADA_MODEL:-$root/share/rada/models/fashion-clip}"
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$lib/rada.bin" "$@"
SCRIPT
chmod 0755 "$root/bin/rada"
mkdir -p "$(dirname "$out")"
tar -C "$stage" -cJf "$out" rada
echo "bundle: $out ($(du -h "$out" | cut -f1)); unpack anywhere and run rada/bin/rada"
