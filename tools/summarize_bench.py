#!/usr/bin/env python3
"""Markdown tables from `rada bench` report.json files (standard library only).

  summarize_bench.py doc REPORT.json [--heading TEXT]
      the Docs/benchmarks.md block for one run: the command, accuracy per domain (or per round
      for the long protocol), mean and last-10 % rows, rada − zero-shot, the fraction of the
      zero-shot → oracle gap closed, and the timing table.
  summarize_bench.py compare NAME=REPORT.json ... [--baseline zero-shot]
      one row per method, one column per report: each method's mean minus the baseline's mean
      in that report (the validation table: several variants of rada on several streams).
  summarize_bench.py seeds REPORT.json ... [--heading TEXT]
      one protocol on several order seeds (one report each): every method's accuracy and gain
      over zero-shot per seed, the mean gain and its spread (largest − smallest gain), whether
      the gain exceeds 3× the spread, and the share of the zero-shot → oracle gap closed; then
      every domain's (or round's) accuracy averaged over the seeds. Counts, not the rounded
      percentages, make every figure.
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


def totals(report):
    """{method: (correct, images)} over the whole stream, and {(method, row): (correct, images)}
    per domain (per round for the long protocol)."""
    whole, rows = {}, {}
    for r in report["results"]:
        row = str(r["round"] + 1) if report["protocol"] == "long" else r["domain"]
        for table, key in ((whole, r["method"]), (rows, (r["method"], row))):
            c, n = table.get(key, (0, 0))
            table[key] = (c + r["correct"], n + r["n"])
    return whole, rows


def seeds(reports, heading):
    """The seed table: the reports are one protocol's runs on different order seeds."""
    protocols = {(r["protocol"], r["batch_size"], r["images"]) for r in reports}
    if len(protocols) != 1:
        sys.exit(f"the reports are not one protocol at one batch size and length: {sorted(protocols)}")
    methods = reports[0]["methods"]
    if any(r["methods"] != methods for r in reports):
        sys.exit("the reports do not have the same methods")
    order = [r["seeds"]["order"] for r in reports]
    counted = [totals(r) for r in reports]
    accuracy = [{m: 100.0 * c / n for m, (c, n) in whole.items()} for whole, _ in counted]
    out = [f"### {heading}", ""] if heading else []
    out.append(f"`{command_line(reports[0])}`, order seeds {', '.join(map(str, order))} "
               f"({reports[0]['images']} images each, git {reports[0]['git_revision'][:10]})")
    out.append("")
    out.append("| method | " + " | ".join(f"seed {s}" for s in order) + " | mean gain | spread | gain > 3× spread | oracle gap closed |")
    out.append("|---|" + "---:|" * len(order) + "---:|---:|---|---:|")
    for m in methods:
        cells = []
        gains = [a[m] - a["zero-shot"] for a in accuracy]
        for a, g in zip(accuracy, gains):
            cells.append(f"{a[m]:.2f}" if m == "zero-shot" else f"{a[m]:.2f} ({g:+.2f})")
        if m == "zero-shot":
            out.append(f"| {m} | " + " | ".join(cells) + " | | | | |")
            continue
        mean, spread = sum(gains) / len(gains), max(gains) - min(gains)
        clear = "yes" if abs(mean) > 3 * spread else "no"
        closed = ""
        if "oracle" in methods and m != "oracle":
            gap = sum(a["oracle"] - a["zero-shot"] for a in accuracy) / len(accuracy)
            closed = f"{100 * mean / gap:.0f} %" if gap > 0.5 else ""
        out.append(f"| {m} | " + " | ".join(cells) + f" | **{mean:+.2f}** | {spread:.2f} | {clear} | {closed} |")
    out.append("")
    first = "round" if reports[0]["protocol"] == "long" else "domain"
    names = []
    for r in reports[0]["results"]:
        row = str(r["round"] + 1) if reports[0]["protocol"] == "long" else r["domain"]
        if row not in names:
            names.append(row)
    if len(names) > 1:
        out.append(f"Accuracy per {first}, mean over the seeds:")
        out.append("")
        out.append(f"| {first} | " + " | ".join(methods) + " |")
        out.append("|---|" + "---:|" * len(methods))
        for row in names:
            cells = []
            for m in methods:
                c = sum(rows[(m, row)][0] for _, rows in counted)
                n = sum(rows[(m, row)][1] for _, rows in counted)
                cells.append(f"{100.0 * c / n:.2f}")
            out.append(f"| {row} | " + " | ".join(cells) + " |")
        out.append("")
    if reports[0]["protocol"] == "long":
        out.extend(round_bars(reports, methods, names, counted))
    timing = {m: [] for m in methods}
    for r in reports:
        for t in r["timing"]:
            timing[t["method"]].append(t["adaptation_ms_per_image"])
    out.append("Adaptation ms/image (mean over the seeds): " + ", ".join(
        f"{m} {sum(v) / len(v):.3f}" for m, v in timing.items() if v) + ".")
    return "\n".join(out)


def round_bars(reports, methods, rounds, counted):
    """The long stream's bars per seed: each method's accuracy in the first and the last round,
    whether the last is at least the first, and its smallest gain over zero-shot in any round."""
    out = ["Rounds per seed: first / last round's accuracy, last ≥ first, the smallest gain over zero-shot of any round:", ""]
    order = [r["seeds"]["order"] for r in reports]
    out.append("| method | " + " | ".join(f"seed {s}" for s in order) + " |")
    out.append("|---|" + "---|" * len(order))
    for m in methods:
        if m == "zero-shot":
            continue
        cells = []
        for _, rows in counted:
            acc = [100.0 * rows[(m, k)][0] / rows[(m, k)][1] for k in rounds]
            zero = [100.0 * rows[("zero-shot", k)][0] / rows[("zero-shot", k)][1] for k in rounds]
            first, last = rows[(m, rounds[0])], rows[(m, rounds[-1])]
            # Counts decide "at least": every round has the same images.
            holds = "yes" if last[0] * first[1] >= first[0] * last[1] else "**no**"
            smallest = min(a - z for a, z in zip(acc, zero))
            cells.append(f"{acc[0]:.2f} / {acc[-1]:.2f} ({acc[-1] - acc[0]:+.2f}, {holds}); {smallest:+.2f}")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("doc")
    d.add_argument("report")
    d.add_argument("--heading")
    c = sub.add_parser("compare")
    c.add_argument("reports", nargs="+", help="NAME=REPORT.json")
    c.add_argument("--baseline", default="zero-shot")
    e = sub.add_parser("seeds")
    e.add_argument("reports", nargs="+")
    e.add_argument("--heading")
    args = parser.parse_args(argv)
    if args.command == "doc":
        print(doc(load(args.report), args.heading))
    elif args.command == "seeds":
        print(seeds([load(p) for p in args.reports], args.heading))
    else:
        pairs = []
        for item in args.reports:
            if "=" not in item:
                parser.error(f"expected NAME=REPORT.json, got {item}")
            pairs.append(item.split("=", 1))
        print(compare(pairs, args.baseline))


if __name__ == "__main__":
    main(sys.argv[1:])
