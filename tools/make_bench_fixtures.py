"""Writes the benchmark's dataset fixtures: the first N Fashion-MNIST test images and labels as
gzipped IDX files (same layout as the Debian package), plus a manifest of what a reader must find.

usage: python tools/make_bench_fixtures.py [OUT_DIR] [N]   (default Tests/Fixtures/bench, 16)
Reads /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist). Standard library only.
"""
import gzip
import json
import os
import struct
import sys

SOURCE = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4 : 4 + 4 * rank])
    return dims, data[4 + 4 * rank :]


def write_idx(path, dims, payload):
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    # mtime=0: the same input gives byte-identical fixtures.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(header + payload)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/bench"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    os.makedirs(out, exist_ok=True)
    (count, rows, cols), images = read_idx(os.path.join(SOURCE, "t10k-images-idx3-ubyte.gz"))
    (_,), labels = read_idx(os.path.join(SOURCE, "t10k-labels-idx1-ubyte.gz"))
    size = rows * cols
    write_idx(os.path.join(out, "t10k-images-idx3-ubyte.gz"), (n, rows, cols), images[: n * size])
    write_idx(os.path.join(out, "t10k-labels-idx1-ubyte.gz"), (n,), labels[:n])
    manifest = {
        "count": n,
        "rows": rows,
        "cols": cols,
        "labels": list(labels[:n]),
        "pixel_sums": [sum(images[i * size : (i + 1) * size]) for i in range(n)],
        "source": "first %d of %d Fashion-MNIST test images (%s)" % (n, count, SOURCE),
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
