#!/usr/bin/env python3
"""Cosine agreement of `rada embed --precision bf16` with the fp32 default on one checkpoint.

fp32 itself matches transformers to cosine 1.0 (`make parity`); this measures what bf16 (the
`auto` default where the CPU has AMX-BF16 or AVX512-BF16) costs, on real image files and texts,
at full model size.
Usage: python3 tools/compare_precision.py --model parity-out/b32-hf [--rada .build/release/rada] IMAGE...
"""
import argparse
import json
import math
import subprocess
import sys

TEXTS = ["a photo of a dog", "a photo of a cat", "a diagram of a transformer", "an ankle boot", "a red car at night"]


def embed(rada, model, precision, images):
    command = [rada, "embed", "--model", model, "--precision", precision, "--json", *images]
    for text in TEXTS:
        command += ["--text", text]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def vectors(result, key):
    return [item["embedding"] for item in result[key]]


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--rada", default=".build/release/rada")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    fp32 = embed(args.rada, args.model, "fp32", args.images)
    bf16 = embed(args.rada, args.model, "bf16", args.images)
    for key in ("images", "texts"):
        cosines = [cosine(a, b) for a, b in zip(vectors(fp32, key), vectors(bf16, key))]
        print(f"{args.model} {key}: {len(cosines)} embeddings, bf16 vs fp32 min cosine {min(cosines):.6f}, "
              f"mean {sum(cosines) / len(cosines):.6f}")


if __name__ == "__main__":
    sys.exit(main())
