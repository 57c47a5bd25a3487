#!/usr/bin/env python3
"""One validation round of rada's defaults (standard library only; Docs/benchmarks.md,
"Validation: how the defaults were chosen").

  validation_round.py run --seeds 42 43 --variant NAME=OPTIONS ... [--memory-variant NAME=T[/C[/KEY]] ...] --out DIR [--rada BINARY]
      runs the ten validation streams (training split) for every seed, one process per seed side
      by side, each stream one `rada bench --methods zero-shot,rada --variant ...` with `--out`,
      then evaluates as below.
  validation_round.py evaluate --seeds 42 43 --out DIR [--long-tolerance POINTS]
      reads DIR/s<seed>-<stream>/report.json and prints, from the counts of correct answers
      (the printed percentages are rounded, and rounds have been decided by one image), every
      stream's gain over zero-shot, the long stream in images, and per candidate and seed the
      eleventh round's criteria against the default ("rada") in the same run:
        (i)   each batch-64 corrupted stream: gain >= the default's - 0.2;
        (ii)  clean >= the default's - 0.05;
        (iii) each label-shift stream >= the default's - 0.1;
        (iv)  batch 16 and batch 1 >= the default's - 0.2;
        (v)   long: no round below zero-shot, the whole stream >= the default's - the tolerance
              (0 unless given);
      and the ten-stream mean gains over all seeds. (vi), the step cost, is not measured here.
"""
import argparse
import json
import os
import subprocess
import sys

# name: (options, criterion); every stream at the training split, 10 classes.
STREAMS = [
    ("long", "--protocol long --severity 5 --limit 1000", "v"),
    ("pd5", "--protocol per-domain --severity 5 --limit 2000", "i"),
    ("cont5", "--protocol continual --severity 5 --limit 2000", "i"),
    ("ls5", "--protocol label-shift --severity 5 --limit 20000", "iii"),
    ("ls3", "--protocol label-shift --severity 3 --limit 20000", "iii"),
    ("clean", "--protocol clean --limit 20000", "ii"),
    ("pd3", "--protocol per-domain --severity 3 --limit 2000", "i"),
    ("cont3", "--protocol continual --severity 3 --limit 2000", "i"),
    ("b16", "--protocol per-domain --severity 5 --limit 2000 --batch-size 16", "iv"),
    ("b1", "--protocol per-domain --severity 5 --limit 2000 --batch-size 1", "iv"),
]
MARGIN = {"i": 0.2, "ii": 0.05, "iii": 0.1, "iv": 0.2}


def run(args):
    """One shell queue per seed: the ten streams one after another."""
    queues = []
    for seed in args.seeds:
        variants = " ".join([f"--variant '{v}'" for v in args.variant] +
                            [f"--memory-variant '{v}'" for v in args.memory_variant])
        lines = []
        for name, options, _ in STREAMS:
            out = os.path.join(args.out, f"s{seed}-{name}")
            lines.append(f"{args.rada} bench --split train --seed {seed} --threads 1 --quiet "
                         f"--methods zero-shot,rada {variants} {options} --out {out} > {out}.txt 2> {out}.err || exit 1")
        queues.append(subprocess.Popen(["bash", "-c", "\n".join(lines)]))
    failed = [seed for seed, q in zip(args.seeds, queues) if q.wait() != 0]
    if failed:
        sys.exit(f"rada bench failed for seeds {failed}; see {args.out}/*.err")


def counts(report):
    """{method: (correct, images)} over the whole stream, and {method: [(correct, n) per round]}."""
    total, rounds = {}, {}
    for r in report["results"]:
        c, n = total.get(r["method"], (0, 0))
        total[r["method"]] = (c + r["correct"], n + r["n"])
        per = rounds.setdefault(r["method"], {})
        rc, rn = per.get(r["round"], (0, 0))
        per[r["round"]] = (rc + r["correct"], rn + r["n"])
    return total, {m: [per[k] for k in sorted(per)] for m, per in rounds.items()}


def evaluate(args):
    gains, images, verdicts, methods = {}, {}, {}, None
    for seed in args.seeds:
        for name, _, criterion in STREAMS:
            path = os.path.join(args.out, f"s{seed}-{name}", "report.json")
            with open(path) as f:
                report = json.load(f)
            total, rounds = counts(report)
            methods = methods or [m for m in report["methods"] if m != "zero-shot"]
            zc, n = total["zero-shot"]
            for m in methods:
                gains[(seed, name, m)] = 100 * (total[m][0] - zc) / n
            if name == "long":
                for m in methods:
                    images[(seed, m)] = total[m][0]
            for m in methods:
                if m == "rada":
                    continue
                behind = total[m][0] - total["rada"][0]  # images, same stream
                if criterion == "v":
                    below = any(c * zn < zc_ * rn for (c, rn), (zc_, zn) in zip(rounds[m], rounds["zero-shot"]))
                    ok = not below and behind >= -args.long_tolerance * n / 100
                else:
                    ok = behind >= -MARGIN[criterion] * n / 100
                verdicts.setdefault((seed, m), []).append((name, criterion, ok, behind))
    names = [s[0] for s in STREAMS]
    print("| seed | method | " + " | ".join(names) + " | long, images |")
    print("|---|---|" + "---:|" * (len(names) + 1))
    for seed in args.seeds:
        for m in methods:
            cells = [f"{gains[(seed, s, m)]:+.3f}" for s in names]
            print(f"| {seed} | {m} | " + " | ".join(cells) + f" | {images[(seed, m)]} |")
    print()
    for m in methods:
        mean = sum(gains[(seed, s, m)] for seed in args.seeds for s in names) / (len(names) * len(args.seeds))
        line = f"{m}: ten-stream mean gain {mean:+.4f}"
        if m != "rada":
            misses = [f"seed {seed} ({c}) {s} {b:+d} images" for seed in args.seeds
                      for s, c, ok, b in verdicts[(seed, m)] if not ok]
            line += "; eligible by (i)-(v)" if not misses else "; misses " + ", ".join(misses)
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "evaluate"):
        p = sub.add_parser(name)
        p.add_argument("--seeds", type=int, nargs="+", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--long-tolerance", type=float, default=0.0, help="points below the default the long stream may be")
        if name == "run":
            p.add_argument("--variant", action="append", default=[], help="NAME=OPTIONS, as rada bench takes it")
            p.add_argument("--memory-variant", action="append", default=[], help="NAME=THRESHOLD[/CAPACITY[/KEY]], as rada bench takes it")
            p.add_argument("--rada", default=".build/release/rada")
    args = parser.parse_args()
    if args.command == "run":
        if not args.variant and not args.memory_variant:
            parser.error("run needs at least one --variant or --memory-variant")
        os.makedirs(args.out, exist_ok=True)
        run(args)
    evaluate(args)


if __name__ == "__main__":
    main()
