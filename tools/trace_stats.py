#!/usr/bin/env python3
"""The light client's figures from the request traces of `tools/serve_load.sh` with TRACE=1
(`OUT/trace.STREAMS.HEAVY.tsv`: start_ms, ms, who): requests, p50, p90, p99 and max, the slowest
requests by their index among the light client's timed requests (0 = the first after the
untimed warm-up), and optionally, for given indices, how far each lies above the median of its
six neighbours (three either side), which separates a request's own cost from the level's noise.

    tools/trace_stats.py OUT_DIR... [--slowest N] [--at I,J,...]

Python standard library only. Percentiles are order statistics: p is the value at index
floor(p * n) of the sorted latencies (p99 of 150 requests is the second slowest).
"""
import argparse
import glob
import os
import statistics


def quantile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def light_latencies(path):
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return [float(ms) for _, ms, who in rows if who != "heavy"], [float(ms) for _, ms, who in rows if who == "heavy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", help="output directories of serve_load.sh runs with TRACE=1")
    parser.add_argument("--slowest", type=int, default=4, help="how many of the slowest light requests to list")
    parser.add_argument("--at", default="", help="comma-separated light-request indices: their excess over their neighbours' median")
    args = parser.parse_args()
    at = [int(i) for i in args.at.split(",") if i]
    for directory in args.dirs:
        for path in sorted(glob.glob(os.path.join(directory, "trace.*.tsv"))):
            light, heavy = light_latencies(path)
            if not light:
                print(f"{path}: no light requests")
                continue
            slowest = sorted(range(len(light)), key=lambda i: -light[i])[: args.slowest]
            line = (f"{path}: light {len(light)} requests, p50 {quantile(light, 0.5):.1f}, p90 {quantile(light, 0.9):.1f}, "
                    f"p99 {quantile(light, 0.99):.1f}, max {max(light):.1f} ms; slowest (index: ms) "
                    + ", ".join(f"{i}: {light[i]:.0f}" for i in slowest))
            if heavy:
                line += f"; heavy {len(heavy)} requests, " + ", ".join(f"{h / 1000:.1f}" for h in heavy) + " s"
            excess = [f"{i}: {light[i] - statistics.median(light[i - 3:i] + light[i + 1:i + 4]):+.0f}"
                      for i in at if 3 <= i < len(light) - 3]
            if excess:
                line += "; above neighbours (index: ms) " + ", ".join(excess)
            print(line)


if __name__ == "__main__":
    main()
