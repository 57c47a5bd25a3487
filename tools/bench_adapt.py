#!/usr/bin/env python3
"""Speed and memory of rada's adaptation step beside the PyTorch reference, in one run.

For every (B, K, D) of the grid (default B in 1 16 64, K in 10 100 1000, D in 128 512; H = 8,
s = 100, float32) this runs, one after the other in fresh processes with the same thread count:

  * `rada bench-adapt --batch B --classes K --dimension D --json`: ms per predict-then-adapt step
    (prediction forward, backward with the chunk recomputation, Adam), the GEMM flops it counts,
    its scratch workspace;
  * `tools/rada_reference.py time --only B,K,D`: the same layer and loss written straight from
    the spec in PyTorch (full B×H×K×K attention, autograd, Adam), ms per step.

Each process's peak resident memory comes from the kernel (wait4's ru_maxrss), so it holds
everything the step touched. Once per run it also takes the large-GEMM rate of the same BLAS
(`rada bench-blas --sizes 2048`) and, with --backbone DIR, the image tower's time on each batch
size (`rada bench-backbone`), so that the step can be read against embedding the same images.

PyTorch processes get an address-space limit (--torch-limit-gib); a configuration that needs
more is reported as such, not run into swap.

Usage (after `swift build -c release --product rada`):
  .venv/bin/python tools/bench_adapt.py [--threads 2] [--repeats 3] [--only B,K,D ...] \\
      [--backbone parity-out/b32-hf] [--out bench-out/adapt.json]
Prints a Markdown table and writes every measurement as JSON.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GRID = [(b, k, d) for d in (128, 512) for k in (10, 100, 1000) for b in (1, 16, 64)]


def run_measured(command, timeout=3600):
    """Runs a command; returns (stdout, stderr, returncode, wall seconds)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        return expired.stdout or "", f"timed out after {timeout} s", -1, time.perf_counter() - start
    return done.stdout, done.stderr, done.returncode, time.perf_counter() - start


def peak_wrapper(command, limit_bytes=0):
    """The command run under a small Python parent that prints the child's own peak RSS (KiB,
    from wait4's rusage) last on stderr, and applies an address-space limit to the child only."""
    return [sys.executable, "-c",
            "import resource, subprocess, sys\n"
            "limit = int(sys.argv[1])\n"
            "def cap():\n"
            "    if limit: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
            "r = subprocess.run(sys.argv[2:], preexec_fn=cap)\n"
            "sys.stderr.write('\\nPEAK_KIB %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(r.returncode)\n", str(limit_bytes)] + command


def peak_mib(stderr):
    for line in reversed(stderr.splitlines()):
        if line.startswith("PEAK_KIB "):
            return int(line.split()[1]) / 1024
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rada", default=".build/release/rada")
    parser.add_argument("--python", default=sys.executable, help="Python with torch for the reference")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed steps per configuration (one where B·K² ≥ 1.6e7, i.e. B ≥ 16 at K = 1000: "
                             "those steps take seconds to minutes and vary little)")
    parser.add_argument("--only", nargs="+", help="configurations as B,K,D")
    parser.add_argument("--backbone", help="CLIP checkpoint whose image tower is timed on each batch size")
    parser.add_argument("--torch-limit-gib", type=float, default=18.0)
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--out", default="bench-out/adapt.json")
    args = parser.parse_args()
    grid = [tuple(int(v) for v in c.split(",")) for c in args.only] if args.only else GRID
    threads = str(args.threads)
    report = {"threads": args.threads, "repeats": args.repeats, "command": sys.argv,
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_before": os.getloadavg(),
              "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
              "configurations": []}

    out, err, rc, _ = run_measured([args.rada, "bench-blas", "--sizes", "2048", "--threads", threads, "--json"])
    if rc != 0:
        sys.exit(f"rada bench-blas failed: {err}")
    report["gemm"] = json.loads(out.strip().splitlines()[-1])
    rate = report["gemm"]["gflops"]
    print(f"SGEMM 2048² on {threads} threads ({report['gemm']['core']}): {rate:.1f} GFLOP/s", file=sys.stderr)

    backbone = {}
    if args.backbone:
        batches = sorted({b for b, _, _ in grid})
        command = [args.rada, "bench-backbone", "--model", args.backbone, "--threads", threads,
                   "--repeats", str(args.repeats), "--json"] + [x for b in batches for x in ("--batch", str(b))]
        out, err, rc, _ = run_measured(command)
        if rc != 0:
            sys.exit(f"rada bench-backbone failed: {err}")
        for line in out.splitlines():
            record = json.loads(line)
            if record.get("kind") == "embed":
                backbone[record["batch"]] = record["ms_per_batch"]
        report["backbone"] = {"model": args.backbone, "ms_per_batch": backbone}

    for b, k, d in grid:
        entry = {"batch": b, "classes": k, "dimension": d}
        repeats = "1" if b * k * k >= 16_000_000 else str(args.repeats)
        command = [args.rada, "bench-adapt", "--batch", str(b), "--classes", str(k), "--dimension", str(d),
                   "--threads", threads, "--repeats", repeats, "--gemm-size", "0", "--json"]
        out, err, rc, _ = run_measured(peak_wrapper(command))
        if rc != 0:
            sys.exit(f"rada bench-adapt failed on {b},{k},{d}: {err}")
        step = [json.loads(line) for line in out.splitlines() if '"kind": "step"' in line][0]
        entry["rada"] = step | {"peak_rss_mib": peak_mib(err)}
        if not args.skip_torch:
            command = [args.python, os.path.join(HERE, "rada_reference.py"), "time", "--threads", threads,
                       "--repeats", repeats, "--only", f"{b},{k},{d}"]
            out, err, rc, _ = run_measured(peak_wrapper(command, int(args.torch_limit_gib * 2**30)))
            rows = [line for line in out.splitlines() if line and line[0].isdigit()]
            if rc == 0 and rows:
                _, _, _, best, median = rows[-1].split(",")
                entry["torch"] = {"ms_per_step": float(best), "median_ms_per_step": float(median),
                                  "peak_rss_mib": peak_mib(err)}
            else:
                lines = [line for line in err.splitlines() if line.strip() and not line.startswith("PEAK_KIB")]
                reason = "out of memory" if any("memory" in line for line in lines[-3:]) else (lines or ["failed"])[-1]
                entry["torch"] = {"error": f"{reason} (limit {args.torch_limit_gib:g} GiB)"}
        report["configurations"].append(entry)
        print(summary_line(entry, rate, backbone), file=sys.stderr, flush=True)

    report["load_after"] = os.getloadavg()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print_table(report, rate, backbone)


def summary_line(entry, rate, backbone):
    r, t = entry["rada"], entry.get("torch", {})
    ratio = f"{t['ms_per_step'] / r['ms_per_step']:.1f}×" if "ms_per_step" in t else t.get("error", "-")
    return (f"B={entry['batch']} K={entry['classes']} D={entry['dimension']}: rada {r['ms_per_step']:.2f} ms, "
            f"torch {t.get('ms_per_step', '-')} ms ({ratio}), {r['gflops']:.1f} GFLOP/s = {100 * r['gflops'] / rate:.0f} % of GEMM")


def print_table(report, rate, backbone):
    print(f"threads {report['threads']}; SGEMM 2048² rate {rate:.1f} GFLOP/s ({report['gemm']['core']}); "
          f"load average {report['load_before'][0]:.2f} before, {report['load_after'][0]:.2f} after")
    print()
    head = ["B", "K", "D", "rada ms/step", "PyTorch ms/step", "PyTorch ÷ rada", "GFLOP/step", "rada GFLOP/s",
            "of GEMM rate", "rada workspace MiB", "rada peak RSS MiB", "PyTorch peak RSS MiB"]
    if backbone:
        head += ["image tower ms (same B)", "step ÷ tower"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for e in report["configurations"]:
        r, t = e["rada"], e.get("torch", {})
        row = [e["batch"], e["classes"], e["dimension"], f"{r['ms_per_step']:.2f}",
               f"{t['ms_per_step']:.2f}" if "ms_per_step" in t else t.get("error", "not run"),
               f"{t['ms_per_step'] / r['ms_per_step']:.1f}×" if "ms_per_step" in t else "",
               f"{r['gflop_per_step']:.3f}", f"{r['gflops']:.1f}", f"{100 * r['gflops'] / rate:.0f} %",
               f"{r['workspace_bytes'] / 2**20:.1f}", f"{r['peak_rss_mib']:.0f}",
               f"{t['peak_rss_mib']:.0f}" if "peak_rss_mib" in t else ""]
        if backbone:
            tower = backbone.get(e["batch"])
            row += [f"{tower:.1f}" if tower else "", f"{r['ms_per_step'] / tower:.2f}" if tower else ""]
        print("| " + " | ".join(str(x) for x in row) + " |")


if __name__ == "__main__":
    main()
