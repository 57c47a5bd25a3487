#!/usr/bin/env python3
"""Reference RAda mask layer in PyTorch, written from the formulas of Docs/rada.md (the paper's layer).

Deliberately straightforward: the full B×H×K×K attention for all three queries, autograd for
the gradients, float64. It writes the parity fixtures the Swift tests read:

    tools/rada_reference.py fixtures [OUT_DIR]        (default Tests/Fixtures/rada)
    tools/rada_reference.py time [--threads N] [--repeats N] [--only B,K,D ...]
                                                     (ms per adaptation step, autograd)

Each fixture is a safetensors file (float32 tensors) whose __metadata__ "config" is JSON
describing the shapes, the scale, the temperature and the loss configurations.
"""
import json
import math
import sys
import time

import torch
from safetensors.torch import save_file

MAPS = ["q_proj1", "q_proj2", "q_proj3", "k_proj", "v_proj", "out_proj"]
FLOOR = 1e-30        # probability floor before log in the diversity terms
VAR_EPS = 1e-8       # added to the variance in the fixed-temperature rescaling


def linear(params, name, x):
    return x @ params[f"mha.{name}.weight"].T + params[f"mha.{name}.bias"]


def rada_forward(params, f, t, s, heads, tau):
    """Masked logits z (B×K) and the mask M (B×K×D), straight from the formulas."""
    B, D = f.shape
    K = t.shape[0]
    d = D // heads
    R = f[:, None, :] * t[None, :, :]
    X = s * R
    q1 = linear(params, "q_proj1", math.sqrt(s) * f)[:, None, :].expand(B, K, D)
    q2 = linear(params, "q_proj2", math.sqrt(s) * t)[None, :, :].expand(B, K, D)
    q3 = linear(params, "q_proj3", X)
    key = linear(params, "k_proj", X)
    value = linear(params, "v_proj", X)

    def split(x):
        return x.reshape(B, K, heads, d).permute(0, 2, 1, 3)  # B,H,K,d

    P = 0
    for q in (q1, q2, q3):
        A = split(q) @ split(key).transpose(-1, -2) / math.sqrt(d)  # B,H,K,K
        flat = torch.softmax((A / tau).reshape(B, heads, K * K), dim=-1)
        P = P + K * flat.reshape(B, heads, K, K)
    P = P / 3
    y = (P @ split(value)).permute(0, 2, 1, 3).reshape(B, K, D)
    M = torch.relu(1 + linear(params, "out_proj", y))
    z = s * (M * R).sum(-1)
    return z, M


def zero_shot(f, t, s):
    return s * (f[:, None, :] * t[None, :, :]).sum(-1)


def loss_fn(cfg, z, M, z0, labels=None, anchor=None):
    """The loss of Docs/rada.md for one configuration."""
    B, K = z.shape
    zl = z
    if cfg.get("fixed_temperature", False):
        var = z.var(dim=1, unbiased=False, keepdim=True) + VAR_EPS
        var0 = z0.var(dim=1, unbiased=False, keepdim=True) + VAR_EPS
        zl = z * (var0.sqrt() / var.sqrt())
    logp = torch.log_softmax(zl, dim=1)
    p = logp.exp()
    ent = -(p * logp).sum(1)
    loss = zl.new_zeros(())
    if cfg.get("cross_entropy", False):
        loss = loss + torch.nn.functional.nll_loss(logp, labels)
    else:
        keep = torch.ones(B, dtype=torch.bool)
        if cfg.get("e0") is not None:
            keep = ent.detach() < cfg["e0"] * math.log(K)
            if keep.sum() == 0:
                return None
        loss = loss + cfg.get("entropy_weight", 1.0) * ent[keep].mean()
        lam = cfg.get("diversity_weight", 0.0)
        if lam:
            pbar = p.mean(0)
            if cfg.get("anchor", False):
                loss = loss + lam * (pbar * anchor.clamp_min(FLOOR).log()).sum()
            else:
                loss = loss + lam * (pbar * pbar.clamp_min(FLOOR).log()).sum()
    alpha = cfg.get("alpha", 0.0)
    if alpha:
        loss = loss + alpha * (M - 1).abs().amax(dim=(1, 2)).mean()
    return loss


def random_inputs(gen, B, K, D, spread=None):
    """Unit rows; with `spread`, rows scatter around one shared direction, so that cosines vary
    little (as CLIP's do) and s = 100 gives logits of a realistic spread, not one-hot softmaxes."""
    f = torch.randn(B, D, generator=gen, dtype=torch.float64)
    t = torch.randn(K, D, generator=gen, dtype=torch.float64)
    if spread is not None:
        base = torch.randn(D, generator=gen, dtype=torch.float64)
        base = base / base.norm()
        f = base + spread * f / math.sqrt(D)
        t = base + spread * t / math.sqrt(D)
    return f / f.norm(dim=1, keepdim=True), t / t.norm(dim=1, keepdim=True)


def random_params(gen, D, out_bound):
    params = {}
    bound = 1 / math.sqrt(D)
    for name in MAPS:
        b = out_bound if name == "out_proj" else bound
        params[f"mha.{name}.weight"] = (torch.rand(D, D, generator=gen, dtype=torch.float64) * 2 - 1) * b
        params[f"mha.{name}.bias"] = (torch.rand(D, generator=gen, dtype=torch.float64) * 2 - 1) * b
    return params


OPTIMIZERS = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-2),
    "sgd": lambda ps: torch.optim.SGD(ps, lr=1e-1, momentum=0.9, weight_decay=1e-4),
}
OPTIMIZER_SETTINGS = {
    "adam": {"kind": "adam", "lr": 1e-3, "weight_decay": 0.0, "momentum": 0.0},
    "adamw": {"kind": "adamW", "lr": 1e-3, "weight_decay": 1e-2, "momentum": 0.0},
    "sgd": {"kind": "sgd", "lr": 1e-1, "weight_decay": 1e-4, "momentum": 0.9},
}


def make_case(name, seed, B, K, D, heads, s, tau, out_bound, configs, spread=None):
    gen = torch.Generator().manual_seed(seed)
    # Rounded to float32 first, so the Swift Float32 and Float64 paths see exactly these inputs.
    f, t = (x.float().double() for x in random_inputs(gen, B, K, D))
    params = {k: v.float().double() for k, v in random_params(gen, D, out_bound).items()}
    labels = torch.randint(0, K, (B,), generator=gen)
    anchor = torch.softmax(torch.randn(K, generator=gen, dtype=torch.float64), 0).float().double()
    z0 = zero_shot(f, t, s)
    with torch.no_grad():
        z, M = rada_forward(params, f, t, s, heads, tau)
    tensors = {"inputs.features": f, "inputs.text": t, "inputs.anchor": anchor, "forward.logits": z}
    tensors.update({f"params.{k}": v for k, v in params.items()})
    meta_configs = []
    for cfg in configs:
        cfg = dict(cfg)
        if cfg.get("e0") == "median":
            # Pick e0 so that exactly half the batch passes the filter (well away from the threshold).
            zl = z
            if cfg.get("fixed_temperature", False):
                zl = z * (z0.var(1, unbiased=False, keepdim=True) + VAR_EPS).sqrt() / (z.var(1, unbiased=False, keepdim=True) + VAR_EPS).sqrt()
            lp = torch.log_softmax(zl, 1)
            ent = -(lp.exp() * lp).sum(1).sort().values
            cfg["e0"] = float((ent[B // 2 - 1] + ent[B // 2]) / 2 / math.log(K))
        ps = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        zz, MM = rada_forward(ps, f, t, s, heads, tau)
        loss = loss_fn(cfg, zz, MM, z0, labels, anchor)
        loss.backward()
        tag = cfg["name"]
        tensors[f"{tag}.loss"] = loss.detach().reshape(1)
        for k, v in ps.items():
            tensors[f"{tag}.grad.{k}"] = v.grad
        opt_name = cfg.get("optimizer")
        if opt_name:
            ps = {k: v.clone().requires_grad_(True) for k, v in params.items()}
            opt = OPTIMIZERS[opt_name](list(ps.values()))
            for _ in range(cfg.get("steps", 1)):
                opt.zero_grad()
                zz, MM = rada_forward(ps, f, t, s, heads, tau)
                loss_fn(cfg, zz, MM, z0, labels, anchor).backward()
                opt.step()
            for k, v in ps.items():
                tensors[f"{tag}.after.{k}"] = v.detach()
            cfg["optimizer_settings"] = OPTIMIZER_SETTINGS[opt_name]
        meta_configs.append(cfg)
    meta = {"B": B, "K": K, "D": D, "heads": heads, "s": s, "tau": tau, "labels": labels.tolist(), "configs": meta_configs}
    out = {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}
    return out, {"config": json.dumps(meta)}


CONFIGS = [
    {"name": "ent_div_filter", "e0": "median", "diversity_weight": 1.0, "optimizer": "adam", "steps": 2},
    {"name": "linf", "alpha": 0.5, "optimizer": "adamw", "steps": 2},
    {"name": "fixed_temperature", "diversity_weight": 1.0, "fixed_temperature": True, "e0": "median"},
    {"name": "anchor", "diversity_weight": 1.0, "anchor": True},
    {"name": "cross_entropy", "cross_entropy": True, "optimizer": "sgd", "steps": 2},
]


def write_fixtures(out_dir):
    import os
    os.makedirs(out_dir, exist_ok=True)
    cases = [
        ("base", 1234, 4, 7, 16, 4, 13.0, 1.0, 0.5, CONFIGS, None),
        ("s100", 99, 4, 7, 16, 4, 100.0, 0.7, 0.05, CONFIGS[:2], 0.6),
    ]
    for name, seed, B, K, D, H, s, tau, ob, cfgs, spread in cases:
        tensors, meta = make_case(name, seed, B, K, D, H, s, tau, ob, cfgs, spread)
        path = os.path.join(out_dir, f"{name}.safetensors")
        save_file(tensors, path, metadata=meta)
        print(path, os.path.getsize(path), "bytes")


GRID = [(B, K, D) for D in (128, 512) for K in (10, 100, 1000) for B in (1, 16, 64)]


def time_steps(threads, grid=GRID, repeats=3):
    """ms per adaptation step (forward + autograd backward + Adam), float32, s = 100, H = 8, like
    the Swift benchmark (which also returns the prediction; here the step's forward is it)."""
    torch.set_num_threads(threads)
    cfg = {"e0": None, "diversity_weight": 1.0, "fixed_temperature": True}
    print("B,K,D,best_ms_per_step,median_ms_per_step")
    for B, K, D in grid:
        gen = torch.Generator().manual_seed(0)
        f, t = random_inputs(gen, B, K, D)
        params = {k: v.float().requires_grad_(True) for k, v in random_params(gen, D, 1 / math.sqrt(D)).items()}
        f, t = f.float(), t.float()
        z0 = zero_shot(f, t, 100.0)
        opt = torch.optim.Adam(list(params.values()), lr=1e-3)
        times = []
        for r in range(repeats + 1):
            start = time.perf_counter()
            opt.zero_grad()
            z, M = rada_forward(params, f, t, 100.0, 8, 1.0)
            loss_fn(cfg, z, M, z0).backward()
            opt.step()
            if r:
                times.append(time.perf_counter() - start)
        times.sort()
        print(f"{B},{K},{D},{1000 * times[0]:.3f},{1000 * times[len(times) // 2]:.3f}", flush=True)


if __name__ == "__main__":
    torch.manual_seed(0)
    if len(sys.argv) >= 2 and sys.argv[1] == "fixtures":
        write_fixtures(sys.argv[2] if len(sys.argv) > 2 else "Tests/Fixtures/rada")
    elif len(sys.argv) >= 2 and sys.argv[1] == "time":
        threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
        grid = GRID
        if "--only" in sys.argv:
            grid = [tuple(int(v) for v in a.split(",")) for a in sys.argv[sys.argv.index("--only") + 1:] if "," in a]
        repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
        time_steps(threads, grid, repeats)
    else:
        print(__doc__)
        sys.exit(2)
