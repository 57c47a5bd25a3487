#!/usr/bin/env python3
"""Image-tower speed of rada against ONNX Runtime and PyTorch (CPU) on the same checkpoint.

For each checkpoint (Hugging Face layout, e.g. from tools/make_reference.py) this exports the
vision tower + projection + L2 normalisation to ONNX once (torch.onnx.export, TorchScript
exporter, opset 17), then runs ROUNDS rounds; in each round every implementation runs in its own
fresh process (`rada bench-backbone`, and this script with --worker ort|torch), in a rotating
order, so that the three share the machine's load alike. Each worker loads the model (timed, with
resident memory, reported apart), warms up once per configuration and times REPEATS forward passes
per (threads, batch). The figure per implementation and configuration is the median over rounds
of each round's median. Thread counts are applied alike: rada's BLAS threads,
torch.set_num_threads (inter-op 1), ORT intra_op_num_threads (inter-op 1, sequential).

With --interleave N, every implementation instead loads once, in a process of its own that
answers one pass at a time, and the passes alternate: N cycles per (threads, batch), each cycle
one pass of every implementation in a rotating order, each once the last one's process has gone
quiet (under 1 ms of CPU over 20 ms, and at least 50 ms after its answer). Thread pools spin after
a call, OpenBLAS's for about 0.1 s of CPU, and a spinning core beside the next pass slowed it by up
to 2× on a 2-vCPU guest; until 2026-12-04 the passes were a fixed 50 ms apart. A shared host's busy spells
(the same command moves by up to 70 % between runs on a 2-vCPU guest) then fall on both sides
of each comparison: the ratios are taken cycle by cycle, and their median and quartiles printed.

With --baseline BINARY (and --interleave), each rada implementation runs a second time from that
binary (e.g. the build before a change), as "IMPL@baseline", in the same cycles: the ratio
baseline ÷ new, cycle by cycle, is the change's speed-up measured on the same spells of the host.

With --blocking MB,KC (repeatable, and --interleave), rada fp32 also runs with its packed kernel's
blocking set to MB rows × KC inputs (RADA_PACK_BLOCKING), as "rada@MB,KC", in the same cycles:
the ratio rada ÷ rada@MB,KC is that blocking's speed-up over the built-in one. A sweep in
separate runs cannot tell a few per cent from a drifting host; this can.

Needs: the venv's torch, transformers, onnxruntime, plus `onnx` (the exporter writes through it).
Usage:
  python tools/bench_backbone.py --model parity-out/b32-hf [--model parity-out/b16-hf] \
      [--rada .build/release/rada] [--threads 1 2] [--batch 1 8] [--rounds 3] [--repeats 5] \
      [--interleave 40 [--baseline OLD_RADA] [--blocking 480,256 ...]] [--out bench-out/backbone.json]
Prints Markdown tables (speed; load time and memory) and writes every measurement as JSON.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

IMPLS = ["rada", "rada-openblas", "rada-bf16", "rada-fp16", "rada-avx512fp16", "rada-avx512bf16", "rada-avx2", "ort",
         "torch"]
# rada in a 16-bit precision, by its `--precision` name (skipped where the CPU lacks the kernel).
HALF = {"rada-bf16": "bf16", "rada-fp16": "fp16"}
# Runs of rada capped by RADA_CPU_LIMIT, with the precision its default (`auto`) then picks: the
# path of an Intel CPU without usable AMX (fp16 on AVX512-FP16), of a CPU without AMX and
# AVX512-FP16 (bf16 on AVX512-BF16 on AMD, fp32 on Intel), and of an AVX2-only CPU (fp32 on the
# AVX2+FMA kernel, OpenBLAS's Haswell family). Same machine, so the caches and clocks are this
# CPU's, and the peers still use everything it has: a lower bound for such a machine, not its figure.
CAPS = {"rada-avx512fp16": "avx512fp16", "rada-avx512bf16": "avx512bf16", "rada-avx2": "avx2"}


def resident_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pixels(batch, size):
    import numpy as np

    return np.random.default_rng(7).uniform(-2, 2, size=(batch, 3, size, size)).astype(np.float32)


def vision_wrapper(model):
    import torch

    class Vision(torch.nn.Module):
        """Vision tower, projection and L2 normalisation: what `embedImages` returns."""

        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, pixel_values):
            pooled = self.clip.vision_model(pixel_values=pixel_values).pooler_output
            embeds = self.clip.visual_projection(pooled)
            return embeds / embeds.norm(dim=-1, keepdim=True)

    return Vision(model).eval()


def load_torch(directory):
    sys.modules.setdefault("torchvision", None)  # broken in the venv; transformers can do without
    import transformers
    from transformers import CLIPModel

    # transformers 5 renamed torch_dtype to dtype (the pinned 4.49 knows only the old name).
    key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    return CLIPModel.from_pretrained(directory, attn_implementation="sdpa", **{key: "float32"}).eval()


def export_onnx(directory, path):
    import torch

    model = vision_wrapper(load_torch(directory))
    size = model.clip.config.vision_config.image_size
    example = torch.from_numpy(pixels(2, size))
    with torch.no_grad():
        torch.onnx.export(
            model, (example,), path, opset_version=17, dynamo=False, input_names=["pixel_values"],
            output_names=["image_embeds"], dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}})


def time_runs(run, repeats):
    """Wall seconds per run, and process CPU seconds (all threads) over the timed runs."""
    run()  # warm-up: pages, thread pools, kernel selection
    times = []
    cpu_start = time.process_time()
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times, time.process_time() - cpu_start


def worker(impl, directory, onnx_path, threads, batches, repeats, serve=False):
    """Runs in its own process: load (timed), then every configuration; prints JSON lines. With
    `serve`, answers each 'THREADS BATCH' line of stdin with one pass's seconds instead."""
    import numpy as np
    import torch

    torch.set_num_interop_threads(1)
    with open(os.path.join(directory, "config.json")) as f:
        size = json.load(f)["vision_config"].get("image_size", 224)
    rss_before = resident_mib()
    start = time.perf_counter()
    if impl == "torch":
        model = vision_wrapper(load_torch(directory))
        sessions = None
    else:
        import onnxruntime as ort

        def session(count):
            options = ort.SessionOptions()
            options.intra_op_num_threads = count
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            return ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])

        sessions = {threads[0]: session(threads[0])}
    load_s = time.perf_counter() - start
    rss = resident_mib()
    print(json.dumps(dict(kind="load", impl=impl, load_s=round(load_s, 3), rss_mib=round(rss, 1),
                          rss_model_mib=round(rss - rss_before, 1))), flush=True)
    if sessions is not None:
        for count in threads[1:]:
            sessions[count] = session(count)

    def runner(count, x):
        """One forward pass of `x` on `count` threads, as a function to time."""
        torch.set_num_threads(count)
        if impl == "torch":
            tx = torch.from_numpy(x)

            def run():
                with torch.inference_mode():
                    model(tx)
        else:
            if count not in sessions:
                sessions[count] = session(count)
            sess = sessions[count]

            def run():
                sess.run(None, {"pixel_values": x})
        return run

    if serve:
        inputs = {}
        for line in sys.stdin:
            count, batch = map(int, line.split())
            run = runner(count, inputs.setdefault(batch, pixels(batch, size)))
            start = time.perf_counter()
            run()
            seconds = time.perf_counter() - start
            print(json.dumps(dict(kind="pass", threads=count, batch=batch, seconds=round(seconds, 6))), flush=True)
        return
    for count in threads:
        for batch in batches:
            times, cpu = time_runs(runner(count, pixels(batch, size)), repeats)
            cpu_ms = cpu * 1000 / (len(times) * batch)
            median = statistics.median(times)
            print(json.dumps(dict(kind="embed", impl=impl, threads=count, batch=batch, reps=len(times),
                                  ms_per_batch=round(median * 1000, 2), ms_per_image=round(median * 1000 / batch, 2),
                                  images_per_s=round(batch / median, 2), best_ms_per_batch=round(min(times) * 1000, 2),
                                  cpu_ms_per_image=round(cpu_ms, 2))),
                  flush=True)
    del np


BASELINE = "@baseline"
BLOCKING = "@"  # rada@MB,KC: rada fp32 with RADA_PACK_BLOCKING=MB,KC


def variants(args):
    """The extra rada processes of an interleaved run: baselines, then blockings."""
    extra = [i + BASELINE for i in args.impls if args.baseline and i.startswith("rada")]
    return extra + [f"rada{BLOCKING}{b}" for b in args.blocking or [] if "rada" in args.impls]


def impl_command(impl, args, directory, onnx_path, serve=False):
    """The command line and environment of one implementation's process."""
    binary, blocking = args.rada, None
    if impl.endswith(BASELINE):
        impl, binary = impl[:-len(BASELINE)], args.baseline
    elif BLOCKING in impl:
        impl, blocking = impl.split(BLOCKING)
    if impl.startswith("rada"):
        command = [binary, "bench-backbone", "--model", directory, "--json", "--repeats", str(args.repeats)]
        # rada's default is `auto` (bf16 where the CPU has a bf16 kernel): name each mode.
        if impl in CAPS:
            command += ["--precision", "auto"]
        else:
            command += ["--precision", HALF.get(impl, "fp32")]
        command += sum([["--threads", str(t)] for t in args.threads], [])
        command += sum([["--batch", str(b)] for b in args.batch], [])
        if serve:
            command.append("--passes-from-stdin")
    else:
        command = [sys.executable, __file__, "--worker", impl, "--model", directory, "--onnx", onnx_path,
                   "--repeats", str(args.repeats), "--threads", *map(str, args.threads), "--batch", *map(str, args.batch)]
        if serve:
            command.append("--serve")
    # rada-openblas: fp32 products on OpenBLAS instead of the packed kernel `auto` picks.
    env = dict(os.environ, RADA_FP32_GEMM="openblas" if impl == "rada-openblas" else "auto")
    env.pop("RADA_CPU_LIMIT", None)
    if impl in CAPS:
        env["RADA_CPU_LIMIT"] = CAPS[impl]
        env.pop("OPENBLAS_CORETYPE", None)  # the cap picks OpenBLAS's family too
    if blocking:
        env["RADA_PACK_BLOCKING"] = blocking
    return command, env


def run_impl(impl, args, directory, onnx_path):
    command, env = impl_command(impl, args, directory, onnx_path)
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0 and impl in HALF and "needs a CPU with" in result.stderr:
        print(f"skipping {impl}: {result.stderr.strip()}", file=sys.stderr)
        return []
    if result.returncode != 0:
        raise SystemExit(f"{impl} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return [dict(json.loads(line), impl=impl) for line in result.stdout.splitlines() if line.startswith("{")]


def process_cpu_seconds(pid):
    """CPU time of every thread of process `pid` so far, to the nanosecond (its process CPU clock,
    the id clock_getcpuclockid would give: /proc's tick counts are 10 ms coarse)."""
    return time.clock_gettime(((~pid) << 3) | 2)


# A worker has gone quiet when its threads used less than QUIET_SHARE of one core over a
# QUIET_WINDOW, and at least SETTLE_MIN after its answer; SETTLE_MAX bounds the wait.
SETTLE_MIN, QUIET_WINDOW, QUIET_SHARE, SETTLE_MAX = 0.05, 0.02, 0.05, 2.0


def settle(pid):
    """Waits until the process that just answered a pass has gone quiet, so that no thread of
    it still spins beside the next implementation's pass. A thread pool keeps its threads
    spinning after a call: OpenBLAS's pthreads build for 2^28 clock cycles by default (about
    0.1 s of CPU on an AMD EPYC Zen 4, most of it in sched_yield), longer than the fixed 50 ms
    this used to wait,
    so whichever implementation followed rada OpenBLAS ran beside a busy core. Returns the
    seconds waited and the process's CPU milliseconds meanwhile."""
    start = time.monotonic()
    first = before = process_cpu_seconds(pid)
    while True:
        time.sleep(QUIET_WINDOW)
        now, elapsed = process_cpu_seconds(pid), time.monotonic() - start
        quiet = now - before < QUIET_SHARE * QUIET_WINDOW
        if (quiet and elapsed >= SETTLE_MIN) or elapsed >= SETTLE_MAX:
            return elapsed, (now - first) * 1000
        before = now


def run_interleaved(args, name, directory, onnx_path):
    """Every implementation in a process of its own, loaded once; passes alternate (see the module
    doc). Returns result lines in run_impl's form plus one "pass" line per timed pass."""
    workers, lines = {}, []
    for impl in args.impls + variants(args):
        command, env = impl_command(impl, args, directory, onnx_path, serve=True)
        # stderr to a file: a pipe nobody reads until the end would stop a chatty worker.
        errors = tempfile.TemporaryFile(mode="w+")
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                   text=True, env=env)
        process.errors = errors
        first = process.stdout.readline()
        if not first.startswith("{"):
            process.wait()
            errors.seek(0)
            error = errors.read()
            if impl.removesuffix(BASELINE) in HALF and "needs a CPU with" in error:
                print(f"skipping {impl}: {error.strip()}", file=sys.stderr)
                continue
            raise SystemExit(f"{impl} failed to start:\n{error[-3000:]}")
        lines.append(dict(json.loads(first), impl=impl, model=name, round=0))
        workers[impl] = process

    def one_pass(impl, threads, batch):
        process = workers[impl]
        process.stdin.write(f"{threads} {batch}\n")
        process.stdin.flush()
        answer = process.stdout.readline()
        if not answer.startswith("{"):
            process.wait()
            process.errors.seek(0)
            raise SystemExit(f"{impl} stopped:\n{process.errors.read()[-3000:]}")
        waited, after_ms = settle(process.pid)
        return json.loads(answer)["seconds"], waited, after_ms

    impls = list(workers)
    for threads in args.threads:
        for batch in args.batch:
            print(f"{name} threads {threads} batch {batch}: {args.interleave} cycles", file=sys.stderr)
            for impl in impls:  # warm-up: pages, thread pools, kernel selection
                one_pass(impl, threads, batch)
            times = {impl: [] for impl in impls}
            for cycle in range(args.interleave):
                for impl in impls[cycle % len(impls):] + impls[:cycle % len(impls)]:
                    seconds, waited, after_ms = one_pass(impl, threads, batch)
                    times[impl].append(seconds)
                    lines.append(dict(kind="pass", impl=impl, model=name, threads=threads, batch=batch, cycle=cycle,
                                      seconds=seconds, settle_s=round(waited, 4), cpu_ms_after=round(after_ms, 2)))
            for impl in impls:
                median = statistics.median(times[impl])
                lines.append(dict(kind="embed", impl=impl, model=name, round=0, threads=threads, batch=batch,
                                  reps=len(times[impl]), ms_per_image=round(median * 1000 / batch, 2),
                                  best_ms_per_batch=round(min(times[impl]) * 1000, 2)))
    for process in workers.values():
        process.stdin.close()
        process.wait()
    return lines


def check_agreement(directory, onnx_path):
    """The peers must compute the same function: cosine of ORT's embeddings with torch's."""
    import numpy as np
    import onnxruntime as ort
    import torch

    model = vision_wrapper(load_torch(directory))
    x = pixels(2, model.clip.config.vision_config.image_size)
    with torch.inference_mode():
        reference = model(torch.from_numpy(x)).numpy()
    ours = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(None, {"pixel_values": x})[0]
    return float(np.min(np.sum(reference * ours, axis=1)))


def cpu_model():
    """lscpu's "Model name": the first `model name` line of /proc/cpuinfo."""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, help="Hugging Face layout checkpoint directory")
    parser.add_argument("--rada", default=".build/release/rada")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--impls", nargs="+", default=IMPLS, choices=IMPLS)
    parser.add_argument("--interleave", type=int, default=0, metavar="CYCLES",
                        help="alternate single passes of every implementation, CYCLES per configuration (replaces rounds)")
    parser.add_argument("--blocking", action="append", metavar="MB,KC",
                        help="also run rada fp32 with RADA_PACK_BLOCKING=MB,KC in the same cycles (repeatable; needs --interleave)")
    parser.add_argument("--baseline", metavar="RADA",
                        help="with --interleave: each rada implementation from this binary too, in the same cycles")
    parser.add_argument("--out", default="bench-out/backbone.json")
    parser.add_argument("--worker", choices=["ort", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline and not args.interleave:
        parser.error("--baseline needs --interleave (the comparison is taken cycle by cycle)")
    for blocking in args.blocking or []:
        if not args.interleave or "rada" not in args.impls:
            parser.error("--blocking needs --interleave and rada among --impls")
        rows, _, inputs = blocking.partition(",")
        if not (rows.isdigit() and inputs.isdigit()):
            parser.error(f"--blocking {blocking}: expected MB,KC (two whole numbers)")
    if args.worker:
        return worker(args.worker, args.model[0], args.onnx, args.threads, args.batch, args.repeats, args.serve)

    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    report = dict(command=" ".join(sys.argv), cpu=cpu_model(), load_average_start=os.getloadavg(), results=[])
    for directory in args.model:
        name = os.path.basename(os.path.normpath(directory))
        onnx_path = os.path.join(os.path.dirname(args.out) or ".", f"{name}-vision.onnx")
        if "ort" in args.impls and not os.path.exists(onnx_path):
            print(f"exporting {name} to {onnx_path} ...", file=sys.stderr)
            export_onnx(directory, onnx_path)
        if "ort" in args.impls and "torch" in args.impls:
            report.setdefault("ort_vs_torch_min_cosine", {})[name] = check_agreement(directory, onnx_path)
        if args.interleave:
            report["results"] += run_interleaved(args, name, directory, onnx_path)
            continue
        for round_index in range(args.rounds):
            order = args.impls[round_index % len(args.impls):] + args.impls[:round_index % len(args.impls)]
            for impl in order:
                print(f"{name} round {round_index + 1}/{args.rounds}: {impl}", file=sys.stderr)
                for line in run_impl(impl, args, directory, onnx_path):
                    report["results"].append(dict(line, model=name, round=round_index))
    report["load_average_end"] = os.getloadavg()
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print_tables(report, args)


def print_tables(report, args):
    results = report["results"]

    def median_of(model, impl, kind, key, **where):
        values = [r[key] for r in results if r["model"] == model and r["impl"] == impl and r["kind"] == kind
                  and all(r.get(k) == v for k, v in where.items())]
        return statistics.median(values) if values else None

    models = sorted({r["model"] for r in results}, key=lambda m: [r["model"] for r in results].index(m))
    impls = [i for i in IMPLS if i in args.impls]
    baselines = [i + BASELINE for i in impls if args.baseline and i.startswith("rada")]
    blockings = [v for v in variants(args) if v not in baselines]
    names = {"rada": "rada", "rada-openblas": "rada OpenBLAS", "rada-bf16": "rada bf16", "rada-fp16": "rada fp16",
             "rada-avx512fp16": "rada capped avx512fp16", "rada-avx512bf16": "rada capped avx512bf16", "rada-avx2": "rada capped avx2", "ort": "ONNX Runtime",
             "torch": "PyTorch"}
    names.update({i: names[i.removesuffix(BASELINE)] + " (baseline)" for i in baselines})
    names.update({v: "rada blocking " + v.split(BLOCKING)[1] for v in blockings})
    print(f"\nCPU: {report['cpu']}; load average {report['load_average_start'][0]:.1f} at start, {report['load_average_end'][0]:.1f} at end; "
          + (f"{args.interleave} interleaved cycles of single passes, median pass" if args.interleave else
             f"{args.rounds} rounds × {args.repeats} repeats, median of round medians"))
    kernels = {r["impl"]: r.get("kernel") for r in results if r["kind"] == "load" and r["impl"].startswith("rada")}
    print("rada kernels: " + "; ".join(f"{names[i]}: {k}" for i, k in kernels.items() if k) + "\n")
    ours = [i for i in ("rada", *HALF) if i in impls]
    pairs = [(i, o) for o in ours for i in impls
             if i not in ("rada", o) and not (o in HALF and i.startswith("rada")) and i not in CAPS]
    pairs += [(i, o) for o in impls if o in CAPS for i in ("ort", "torch") if i in impls]
    pairs += [(b, b.removesuffix(BASELINE)) for b in baselines]
    pairs += [("rada", v) for v in blockings]
    impls += baselines + blockings
    header = "| model | batch | threads | " + " | ".join(f"{names[i]} ms/image | {names[i]} images/s" for i in impls)
    header += "".join(f" | {names[i]} ÷ {names[o]} (ms/image)" for i, o in pairs) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for model in models:
        for batch in args.batch:
            for threads in args.threads:
                ms = {i: median_of(model, i, "embed", "ms_per_image", batch=batch, threads=threads) for i in impls}
                cells = [f"{ms[i]:.1f} | {1000 / ms[i]:.2f}" if ms[i] else "– | –" for i in impls]
                ratios = [f"{ms[i] / ms[o]:.2f}×" if ms.get(i) and ms.get(o) else "–" for i, o in pairs]
                print(f"| {model} | {batch} | {threads} | " + " | ".join(cells + ratios) + " |")
    if args.interleave:
        print_cycle_ratios(results, models, args, pairs, names)
        print_spin_down(results, models, args, impls, names)
    else:  # interleaved passes are timed by wall clock only
        print("\nCPU time (all threads of the process) per image, ms: less sensitive to other jobs than wall time, "
              "but it counts thread-pool spin-waiting\n")
        print("| model | batch | threads | " + " | ".join(names[i] for i in impls) + " |\n|" + "---|" * (3 + len(impls)))
        for model in models:
            for batch in args.batch:
                for threads in args.threads:
                    cpu = [median_of(model, i, "embed", "cpu_ms_per_image", batch=batch, threads=threads) for i in impls]
                    print(f"| {model} | {batch} | {threads} | " + " | ".join(f"{c:.1f}" if c else "–" for c in cpu) + " |")
    print("\n| model | implementation | load s | resident MiB (total) | resident MiB (model) |\n|---|---|---|---|---|")
    for model in models:
        for impl in impls:
            load = median_of(model, impl, "load", "load_s")
            rss = median_of(model, impl, "load", "rss_mib")
            delta = median_of(model, impl, "load", "rss_model_mib")
            if load is not None:
                print(f"| {model} | {names[impl]} | {load:.2f} | {rss:.0f} | {delta:.0f} |")
    if "ort_vs_torch_min_cosine" in report:
        print("\nONNX export agrees with PyTorch: min cosine " +
              ", ".join(f"{m} {c:.7f}" for m, c in report["ort_vs_torch_min_cosine"].items()))


def print_cycle_ratios(results, models, args, pairs, names):
    """Each pair's ratio cycle by cycle (passes next to each other in time): median, quartiles."""
    print("\nRatios within each cycle (a peer's pass ÷ ours in the same cycle): median [25 %, 75 %] over cycles\n")
    print("| model | batch | threads | " + " | ".join(f"{names[i]} ÷ {names[o]}" for i, o in pairs) + " |")
    print("|" + "---|" * (3 + len(pairs)))
    for model in models:
        for batch in args.batch:
            for threads in args.threads:
                seconds = {}
                for r in results:
                    if r["kind"] == "pass" and r["model"] == model and r["batch"] == batch and r["threads"] == threads:
                        seconds[(r["impl"], r["cycle"])] = r["seconds"]
                cells = []
                for i, o in pairs:
                    ratios = sorted(seconds[(i, c)] / seconds[(o, c)] for c in range(args.interleave)
                                    if (i, c) in seconds and (o, c) in seconds)
                    if len(ratios) < 4:
                        cells.append("–")
                        continue
                    q1, median, q3 = statistics.quantiles(ratios, n=4)
                    cells.append(f"{median:.2f}× [{q1:.2f}, {q3:.2f}]")
                print(f"| {model} | {batch} | {threads} | " + " | ".join(cells) + " |")


def print_spin_down(results, models, args, impls, names):
    """What each process did after answering a pass, before the next implementation's ran."""
    print("\nAfter each pass, before the next implementation's: the process's CPU ms (its threads "
          "spinning down) and the wait until it was quiet, median [max]\n")
    print("| model | batch | threads | " + " | ".join(f"{names[i]} CPU ms | {names[i]} wait ms" for i in impls) + " |")
    print("|" + "---|" * (3 + 2 * len(impls)))
    for model in models:
        for batch in args.batch:
            for threads in args.threads:
                cells = []
                for impl in impls:
                    rows = [r for r in results if r["kind"] == "pass" and r["model"] == model and r["impl"] == impl
                            and r["batch"] == batch and r["threads"] == threads and "cpu_ms_after" in r]
                    for key, scale in (("cpu_ms_after", 1), ("settle_s", 1000)):
                        values = [r[key] * scale for r in rows]
                        cells.append(f"{statistics.median(values):.1f} [{max(values):.1f}]" if values else "–")
                print(f"| {model} | {batch} | {threads} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
