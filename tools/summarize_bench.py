#!/usr/bin/env python3
"""Markdown tables from `rada bench` report.json files (standard library only).

  summarize_bench.py doc REPORT.json [--heading TEXT]
      the Docs/benchmarks.md block for one run: the command, accuracy per domain (or per round
      for the long protocol), mean and last-10 % rows, rada − zero-shot, the fraction of the
      zero-shot → oracle gap closed, and the timing table.
  summarize_bench.py compare NAME=REPORT.json ... [--baseline zero-shot]
      one row per method, one column per report: each method's mean minus the baseline's mean
      in that report (the validation table: several variants of rada on several streams).
"""
import argparse
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def command_line(report):
    """The recorded command with the binary shown as `.build/release/rada`."""
    words = report["command"].split(" ")
    if words and os.path.basename(words[0]).startswith("rada"):
        words[0] = ".build/release/rada"
    return " ".join(words)


def accuracy_grid(report):
    """{(method, row name): accuracy} and the row names in stream order."""
    grid, rows = {}, []
    if report["protocol"] == "long":
        rounds = {}
        for r in report["results"]:
            key = (r["method"], r["round"] + 1)
            c, n = rounds.get(key, (0, 0))
            rounds[key] = (c + r["correct"], n + r["n"])
        for (method, index), (c, n) in rounds.items():
            grid[(method, str(index))] = 100.0 * c / n
        rows = sorted({k[1] for k in grid}, key=int)
    else:
        for r in report["results"]:
            grid[(r["method"], r["domain"])] = r["accuracy"]
        rows = report["domains"]
    return grid, rows


def doc(report, heading):
    methods = report["methods"]
    out = []
    if heading:
        out += [f"### {heading}", ""]
    git = report["git_revision"][:10]
    out += [f"`{command_line(report)}` ({report['images']} images, git {git})", ""]
    grid, rows = accuracy_grid(report)
    first = "round" if report["protocol"] == "long" else "domain"
    out.append(f"| {first} | " + " | ".join(methods) + " |")
    out.append("|---|" + "---:|" * len(methods))
    for row in rows:
        out.append(f"| {row} | " + " | ".join(f"{grid[(m, row)]:.2f}" for m in methods) + " |")
    out.append("| **mean** | " + " | ".join(f"**{report['mean'][m]:.2f}**" for m in methods) + " |")
    if report["protocol"] != "long":
        out.append("| last 10 % (mean) | " + " | ".join(f"{report['mean_last10'][m]:.2f}" for m in methods) + " |")
    out.append("")
    mean = report["mean"]
    if "rada" in mean and "zero-shot" in mean:
        gain = mean["rada"] - mean["zero-shot"]
        line = f"rada − zero-shot: **{gain:+.2f}** points"
        if "oracle" in mean and mean["oracle"] - mean["zero-shot"] > 0.5:
            closed = 100 * gain / (mean["oracle"] - mean["zero-shot"])
            line += f"; gap to the oracle closed: **{closed:.0f} %**"
        if report["protocol"] == "long":
            worst = min(grid[("rada", r)] for r in rows)
            line += f"; worst round {worst:.2f} ({worst - mean['zero-shot']:+.2f} vs zero-shot)"
        out.append(line + f"; peak RSS {report['peak_resident_bytes'] / 2**20:.0f} MiB.")
        out.append("")
    out.append("| method | backbone ms/image | adaptation ms/image | images/s |")
    out.append("|---|---:|---:|---:|")
    for t in report["timing"]:
        out.append(f"| {t['method']} | {t['backbone_ms_per_image']:.3f} | {t['adaptation_ms_per_image']:.3f} | {t['images_per_s']:.0f} |")
    return "\n".join(out)


def compare(pairs, baseline):
    reports = [(name, load(path)) for name, path in pairs]
    methods = []
    for _, r in reports:
        methods += [m for m in r["methods"] if m not in methods and m != baseline]
    out = ["| method | " + " | ".join(name for name, _ in reports) + " |", "|---|" + "---:|" * len(reports)]
    out.append(f"| {baseline} (accuracy) | " + " | ".join(f"{r['mean'][baseline]:.2f}" for _, r in reports) + " |")
    for m in methods:
        cells = []
        for _, r in reports:
            cells.append(f"{r['mean'][m] - r['mean'][baseline]:+.2f}" if m in r["mean"] else "")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("doc")
    d.add_argument("report")
    d.add_argument("--heading")
    c = sub.add_parser("compare")
    c.add_argument("reports", nargs="+", help="NAME=REPORT.json")
    c.add_argument("--baseline", default="zero-shot")
    args = parser.parse_args(argv)
    if args.command == "doc":
        print(doc(load(args.report), args.heading))
    else:
        pairs = []
        for item in args.reports:
            if "=" not in item:
                parser.error(f"expected NAME=REPORT.json, got {item}")
            pairs.append(item.split("=", 1))
        print(compare(pairs, args.baseline))


if __name__ == "__main__":
    main(sys.argv[1:])
