#!/usr/bin/env bash
# Full-size parity of the Swift CLIP towers against transformers' CLIPModel.
#
# Builds random-weight ViT-B/32 and ViT-B/16 checkpoints (fp16, both layouts) with reference
# embeddings into $PARITY_OUT (default parity-out/; about 1.2 GB), then runs the release-built
# `Parity` tests on them: cosine ≥ 0.99999 per embedding, max |Δ| and timings reported.
# Existing checkpoints are reused; delete the directory to regenerate.
#
# Usage: tools/parity.sh [preset ...]     (default: b32 b16)
#        RADA_PRECISION=bf16 tools/parity.sh   (the AMX bf16 path, with bf16's tolerance 0.999)
#        PYTHON=/path/to/venv/python PARITY_OUT=dir tools/parity.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${PARITY_OUT:-parity-out}
if [ $# -gt 0 ]; then PRESETS=("$@"); else PRESETS=(b32 b16); fi
if [ ! -x "$PYTHON" ]; then
  echo "no Python at $PYTHON: run \`make tools-env\` or set PYTHON" >&2
  exit 1
fi
mkdir -p "$OUT"
for preset in "${PRESETS[@]}"; do
  if [ -f "$OUT/$preset-openclip/reference/index.json" ]; then
    echo "reusing $OUT/$preset-hf and $OUT/$preset-openclip"
  else
    echo "generating $preset ..."
    time "$PYTHON" tools/make_reference.py --preset "$preset" --dtype f16 \
      --hf-out "$OUT/$preset-hf" --openclip-out "$OUT/$preset-openclip"
  fi
done
# The OpenCLIP copies must also agree with OpenCLIP's own model code, not just with our renaming.
"$PYTHON" tools/check_openclip.py $(for p in "${PRESETS[@]}"; do echo "$OUT/$p-openclip"; done)
# Its own build directory: `-enable-testing` changes every module's flags, so sharing .build with
# `swift build -c release` would rebuild everything (dependencies included) on each switch.
time RADA_PARITY_DIR="$(cd "$OUT" && pwd)" swift test -c release -Xswiftc -enable-testing \
  --scratch-path .build-release-testing --filter Parity 2>&1 \
  | tee "$OUT/report.txt" | grep -E "PARITY|SPEED|✘|passed|failed|error"
