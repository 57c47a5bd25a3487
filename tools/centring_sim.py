#!/usr/bin/env python3
"""Exploration behind embedding centring (Docs/benchmarks.md, "Eleventh and twelfth rounds"):
zero-shot CLIP on the embedded model's features, with the stream's running mean image embedding
subtracted before each batch (no mask, no adaptation). Not a validation rule's evidence: the
rules ran `rada bench`.

  rada corrupt --split train --severity 5 --limit 2000 --out /tmp/fm/train5     # and severity 3
  rada corrupt --split train --severity 5 --corruption gaussian_noise --limit 20000 --out /tmp/fm/ls5
  rada corrupt --split train --severity 0 --corruption gaussian_noise --limit 20000 --out /tmp/fm/clean
  python tools/centring_sim.py embed /tmp/fm/train5 /tmp/fm/ls5 /tmp/fm/clean    # features.npz per folder
  python tools/centring_sim.py sim --corrupted /tmp/fm/train5 --clean /tmp/fm/clean --label-shift /tmp/fm/ls5

  python tools/centring_sim.py whiten --corrupted /tmp/fm/train5 --clean /tmp/fm/clean --label-shift /tmp/fm/ls5

  python tools/centring_sim.py statistics --corrupted /tmp/fm/train5 --clean /tmp/fm/clean --label-shift /tmp/fm/ls5

`statistics` (Docs/benchmarks.md, "Fifteenth round") prints the same streams for variations of
the default's statistics (a covariance with its own memory, a shrinkage growing with the weight,
statistics that include the batch, a nearest-class-mean term in the whitened space, the
within-class covariance, a steeper gate).

`whiten` (Docs/benchmarks.md, "Fourteenth round") prints the same streams for the default's gate
(0.18 / 0.05) with and without whitening the centred embeddings by the running covariance
shrunk towards the identity, W = ((1 - rho) I + rho D Sigma / tr Sigma)^(-1/2), recomputed as the
stream does (after min(R, the weight at the last refresh) images, R = 256).

`sim` prints the mean accuracy per domain (batch 64, reset per domain), continual, clean and
label-shift streams (Dirichlet(0.1) class runs in blocks of 100, like `rada bench`'s, from numpy's
generator, so not the same orders) for: zero-shot, ungated centring and the gate at a few
thresholds (memory 1 000 images, a = 1).
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

MODEL = os.path.join(os.path.dirname(__file__), "..", "models", "fashion-clip")


def embed(folders):
    import torch
    sys.path.insert(0, os.path.dirname(__file__))
    from PIL import Image
    from train_fashion_clip import CLIPModel, CLIPTokenizer, class_embeddings, image_embeddings
    torch.set_num_threads(2)
    model = CLIPModel.from_pretrained(MODEL).eval()
    tokenizer = CLIPTokenizer.from_pretrained(MODEL)
    pre = json.load(open(os.path.join(MODEL, "preprocessor_config.json")))
    prompts = json.load(open(os.path.join(MODEL, "prompts.json")))
    labels = prompts["labels"]
    with torch.no_grad():  # the served prompt ensemble
        text = class_embeddings(model, tokenizer, prompts["templates"]).numpy()
    folder_names = {label: label.replace("/", "-").replace(" ", "_") for label in labels}
    for root in folders:
        out = {"text": text}
        for domain in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))):
            images, ys, index = [], [], []
            for k, label in enumerate(labels):
                for f in glob.glob(os.path.join(root, domain, folder_names[label], "*.png")):
                    images.append(np.array(Image.open(f).convert("L")))
                    ys.append(k)
                    index.append(int(os.path.basename(f)[:-4]))
            order = np.argsort(index)
            unit = torch.from_numpy(np.stack(images)[order]).float() / 255.0
            x = image_embeddings(model, unit, pre["image_mean"][0], pre["image_std"][0]).numpy().astype(np.float32)
            out[domain + "/x"], out[domain + "/y"] = x, np.array(ys)[order]
            print(root, domain, f"zero-shot {100 * ((x @ text.T).argmax(1) == out[domain + '/y']).mean():.2f}", flush=True)
        np.savez(os.path.join(root, "features.npz"), **out)


class Centring:
    """The running mean and the gate of `RunningEmbeddingMean`, in numpy."""

    def __init__(self, text, scale, weight=1.0, memory=1000.0, threshold=None, ramp=0.05):
        self.text, self.scale, self.a, self.memory, self.threshold, self.ramp = text, scale, weight, memory, threshold, ramp
        self.reset()

    def reset(self):
        self.mean, self.entropy, self.w = 0.0, 0.0, 0.0

    def share(self):
        if self.w == 0:
            return 0.0
        if self.threshold is None:
            return self.a
        return self.a * float(np.clip((self.entropy - self.threshold) / self.ramp, 0, 1))

    def logits(self, x):
        return (x - self.share() * self.mean) @ self.text.T  # renormalising does not change the arg-max

    def add(self, x):
        z = self.scale * x @ self.text.T
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        h = -(p * np.log(p + 1e-30)).sum(1) / np.log(len(self.text))
        decayed = self.w * np.exp(-len(x) / self.memory)
        total = decayed + len(x)
        self.mean = (decayed * self.mean + x.sum(0)) / total
        self.entropy = (decayed * self.entropy + h.sum()) / total
        self.w = total


def whitener(cov, rho):
    """W = ((1 - rho) I + rho D Sigma / tr Sigma)^(-1/2); the identity where Sigma is empty or the
    shrunk matrix is not positive definite (as the stream falls back)."""
    d, trace = len(cov), np.trace(cov)
    if trace <= 1e-12:
        return np.eye(d)
    values, vectors = np.linalg.eigh((1 - rho) * np.eye(d) + rho * d * cov / trace)
    if values.min() <= 1e-6:
        return np.eye(d)
    return (vectors * values ** -0.5) @ vectors.T


class Whitening(Centring):
    """`Centring` plus the stream's whitening: y = x - g a m, y' = (1 - g) y + g y W."""

    def __init__(self, text, scale, rho=0.5, refresh=256, **kw):
        self.rho, self.refresh = rho, refresh
        super().__init__(text, scale, **kw)

    def reset(self):
        super().reset()
        self.second, self.whitener, self.since, self.w_at = 0.0, None, 0.0, 0.0

    def whitened(self, x):
        """The centred and whitened rows, and the gate's share g."""
        g = self.share() / self.a if self.a else 0.0
        y = x - self.share() * self.mean
        if g > 0 and self.whitener is not None and self.rho > 0:
            y = (1 - g) * y + g * y @ self.whitener
        return y, g

    def logits(self, x):
        return self.whitened(x)[0] @ self.text.T

    def covariance(self):
        """Sigma and the weight of its moments, at a refresh."""
        return self.second - np.outer(self.mean, self.mean), self.w

    def shrinkage(self, n):
        return self.rho

    def add(self, x):
        decayed = self.w * np.exp(-len(x) / self.memory)
        self.second = (decayed * self.second + x.T @ x) / (decayed + len(x))
        super().add(x)
        self.since += len(x)
        if self.rho > 0 and (self.whitener is None or self.since >= min(self.refresh, self.w_at)):
            cov, n = self.covariance()
            self.whitener = whitener(cov, self.shrinkage(n))
            self.since, self.w_at = 0.0, self.w


def accuracy(c, x, y, batch=64):
    """Predict each batch, then add it to the statistics (with `include_batch`, add it first)."""
    include = getattr(c, "include_batch", False)
    correct = 0
    for i in range(0, len(x), batch):
        if include:
            c.add(x[i:i + batch])
        correct += (c.logits(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()
        if not include:
            c.add(x[i:i + batch])
    return 100.0 * correct / len(y)


def label_shift_order(y, seed):
    rng = np.random.default_rng(seed)
    pools = [list(rng.permutation(np.where(y == k)[0])) for k in range(int(y.max()) + 1)]
    order = []
    while len(order) < len(y):
        proportions = rng.dirichlet([0.1] * len(pools))
        block = {}
        for _ in range(min(100, len(y) - len(order))):
            available = [k for k in range(len(pools)) if pools[k]]
            w = np.array([proportions[k] for k in available])
            w = w / w.sum() if w.sum() > 0 else np.full(len(available), 1.0 / len(available))
            k = available[rng.choice(len(available), p=w)]
            block.setdefault(k, []).append(pools[k].pop())
        for k in block:
            order += block[k]
    return np.array(order)


def streams(a):
    """The corrupted domains, clean and label-shift features, and the fixed orders both commands use."""
    corrupted = np.load(os.path.join(a.corrupted, "features.npz"))
    domains = sorted({k.split("/")[0] for k in corrupted.files if "/" in k})
    clean = np.load(os.path.join(a.clean, "features.npz"))
    shifted = np.load(os.path.join(a.label_shift, "features.npz"))
    cx, cy = clean[[k for k in clean.files if k.endswith("/x")][0]], clean[[k for k in clean.files if k.endswith("/y")][0]]
    lx, ly = shifted[[k for k in shifted.files if k.endswith("/x")][0]], shifted[[k for k in shifted.files if k.endswith("/y")][0]]
    rng = np.random.default_rng(0)
    perms = {d: rng.permutation(len(corrupted[d + "/y"])) for d in domains}
    return corrupted, corrupted["text"], domains, (cx, cy), (lx, ly), perms, rng.permutation(len(cy))


def evaluate(c, corrupted, domains, perms, clean, shifted, orders, base):
    """Per-domain mean, continual mean, clean accuracy and the label-shift orders' gains over zero-shot (`base`)."""
    (cx, cy), clean_order = clean
    lx, ly = shifted
    per_domain = []
    for d in domains:
        c.reset()
        per_domain.append(accuracy(c, corrupted[d + "/x"][perms[d]], corrupted[d + "/y"][perms[d]]))
    c.reset()
    continual = [accuracy(c, corrupted[d + "/x"][perms[d]], corrupted[d + "/y"][perms[d]]) for d in domains]
    c.reset()
    clean_acc = accuracy(c, cx[clean_order], cy[clean_order])
    shifts = []
    for s, o in enumerate(orders):
        c.reset()
        shifts.append(accuracy(c, lx[o], ly[o]) - base[s])
    return np.mean(per_domain), np.mean(continual), clean_acc, shifts


def sim(a):
    corrupted, text, domains, (cx, cy), (lx, ly), perms, clean_order = streams(a)
    settings = [("zero-shot", dict(weight=0.0)), ("ungated", dict()), ("gate 0.15", dict(threshold=0.15)),
                ("gate 0.18", dict(threshold=0.18)), ("gate 0.20", dict(threshold=0.20))]
    print("setting      per-domain  continual  clean  label shift (orders 0..7: mean, worst vs zero-shot)")
    orders = [label_shift_order(ly, s) for s in range(8)]
    base = [accuracy(Centring(text, a.scale, weight=0.0), lx[o], ly[o]) for o in orders]
    for name, kw in settings:
        per_domain, continual, clean_acc, shifts = evaluate(
            Centring(text, a.scale, **kw), corrupted, domains, perms, ((cx, cy), clean_order), (lx, ly), orders, base)
        print(f"{name:12s} {per_domain:10.2f} {continual:10.2f} {clean_acc:6.2f}  {np.mean(shifts):+.2f}, {min(shifts):+.2f}", flush=True)


def whiten(a):
    corrupted, text, domains, (cx, cy), (lx, ly), perms, clean_order = streams(a)
    orders = [label_shift_order(ly, s) for s in range(8)]
    base = [accuracy(Centring(text, a.scale, weight=0.0), lx[o], ly[o]) for o in orders]
    print("setting      per-domain  continual  per-domain b16  clean  label shift (orders 0..7: mean, worst vs zero-shot)")
    for name, rho in [("gate 0.18", 0.0), ("rho 0.3", 0.3), ("rho 0.5", 0.5), ("rho 0.7", 0.7)]:
        c = Whitening(text, a.scale, rho=rho, threshold=0.18, ramp=0.05)
        pd16 = []
        for d in domains:
            c.reset()
            pd16.append(accuracy(c, corrupted[d + "/x"][perms[d]], corrupted[d + "/y"][perms[d]], 16))
        pd16 = np.mean(pd16)
        pd64, continual, clean_acc, shifts = evaluate(c, corrupted, domains, perms, ((cx, cy), clean_order), (lx, ly), orders, base)
        print(f"{name:12s} {pd64:10.2f} {continual:10.2f} {pd16:15.2f} {clean_acc:6.2f}  {np.mean(shifts):+.2f}, {min(shifts):+.2f}", flush=True)


class Variant(Whitening):
    """`Whitening` with the fifteenth round's exploratory variations (all off by default):
    `covariance_memory`: Sigma from moments with their own memory (the mean keeps `memory`);
    `rho_n0`: shrinkage rho * n / (n + n0), n the weight of Sigma's moments at the refresh;
    `include_batch`: the batch is added to the statistics before it is predicted;
    `ncm`: lambda of a nearest-class-mean term, lambda * s * n_k / (n_k + 50) * cos(y', mu_k), mu_k the
    soft pseudo-label means of the whitened rows (the gate's share g scales it);
    `within`: beta of the between-class scatter of soft pseudo-label means taken off Sigma."""

    def __init__(self, text, scale, covariance_memory=None, rho_n0=0.0, include_batch=False, ncm=0.0, within=0.0, **kw):
        self.covariance_memory, self.rho_n0, self.include_batch = covariance_memory, rho_n0, include_batch
        self.ncm, self.within = ncm, within
        super().__init__(text, scale, **kw)

    def reset(self):
        super().reset()
        self.c_second, self.c_mean, self.c_w = 0.0, 0.0, 0.0
        self.class_sum, self.class_w = 0.0, 0.0

    def rows(self, x):
        y, g = self.whitened(x)
        return y / np.linalg.norm(y, axis=1, keepdims=True), g

    def logits(self, x):
        y, g = self.rows(x)
        z = self.scale * y @ self.text.T
        if self.ncm > 0 and g > 0 and np.ndim(self.class_w) == 1:
            mu = self.class_sum / np.maximum(self.class_w[:, None], 1e-9)
            mu /= np.maximum(np.linalg.norm(mu, axis=1, keepdims=True), 1e-9)
            z = z + g * self.ncm * self.scale * (self.class_w / (self.class_w + 50.0))[None, :] * (y @ mu.T)
        return z

    def covariance(self):
        if self.covariance_memory:
            cov, n = self.c_second - np.outer(self.c_mean, self.c_mean), self.c_w
        else:
            cov, n = super().covariance()
        if self.within > 0:
            mu = self.class_sum / np.maximum(self.class_w[:, None], 1e-9) - self.mean
            cov = cov - self.within * (mu * (self.class_w / self.class_w.sum())[:, None]).T @ mu
        return cov, n

    def shrinkage(self, n):
        return self.rho * (n / (n + self.rho_n0) if self.rho_n0 else 1.0)

    def add(self, x):
        decay = np.exp(-len(x) / self.memory) if self.w > 0 else 0.0
        if self.ncm > 0 or self.within > 0:
            z = self.logits(x)
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            rows = self.rows(x)[0] if self.ncm > 0 else x
            self.class_sum = decay * self.class_sum + p.T @ rows
            self.class_w = decay * self.class_w + p.sum(0)
        if self.covariance_memory:
            c_decay = self.c_w * np.exp(-len(x) / self.covariance_memory)
            total = c_decay + len(x)
            self.c_second = (c_decay * self.c_second + x.T @ x) / total
            self.c_mean = (c_decay * self.c_mean + x.sum(0)) / total
            self.c_w = total
        super().add(x)


def statistics(a):
    corrupted, text, domains, (cx, cy), (lx, ly), perms, clean_order = streams(a)
    orders = [label_shift_order(ly, s) for s in range(8)]
    base = [accuracy(Centring(text, a.scale, weight=0.0), lx[o], ly[o]) for o in orders]
    gate = dict(threshold=0.18, ramp=0.05)
    settings = [
        ("default (rho 0.3)", dict(rho=0.3, **gate)),
        ("cov memory 3000", dict(rho=0.3, covariance_memory=3000, **gate)),
        ("rho .5, cov mem 3000", dict(rho=0.5, covariance_memory=3000, **gate)),
        ("rho .5, cov mem 10000", dict(rho=0.5, covariance_memory=10000, **gate)),
        ("rho .5 n/(n+256)", dict(rho=0.5, rho_n0=256, **gate)),
        ("rho .7 n/(n+500)", dict(rho=0.7, rho_n0=500, **gate)),
        ("batch included", dict(rho=0.3, include_batch=True, **gate)),
        ("class means 0.5", dict(rho=0.3, ncm=0.5, **gate)),
        ("class means 1", dict(rho=0.3, ncm=1.0, **gate)),
        ("within-class 1", dict(rho=0.3, within=1.0, **gate)),
        ("within-class 0.5", dict(rho=0.3, within=0.5, **gate)),
        ("gate .18 ramp .02", dict(rho=0.3, threshold=0.18, ramp=0.02)),
        ("gate .18 ramp .01", dict(rho=0.3, threshold=0.18, ramp=0.01)),
        ("gate .17 ramp .02", dict(rho=0.3, threshold=0.17, ramp=0.02)),
        ("gate .16 ramp .04", dict(rho=0.3, threshold=0.16, ramp=0.04)),
    ]
    print("setting                 per-domain  continual  clean  label shift (orders 0..7: mean, worst vs zero-shot)")
    for name, kw in settings:
        per_domain, continual, clean_acc, shifts = evaluate(
            Variant(text, a.scale, **kw), corrupted, domains, perms, ((cx, cy), clean_order), (lx, ly), orders, base)
        print(f"{name:22s} {per_domain:10.2f} {continual:10.2f} {clean_acc:6.2f}  {np.mean(shifts):+.2f}, {min(shifts):+.2f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed")
    e.add_argument("folders", nargs="+")
    for command in ("sim", "whiten", "statistics"):
        s = sub.add_parser(command)
        s.add_argument("--corrupted", required=True)
        s.add_argument("--clean", required=True)
        s.add_argument("--label-shift", required=True)
        s.add_argument("--scale", type=float, default=11.0706, help="the model's exp(logit_scale)")
    a = p.parse_args()
    {"embed": lambda: embed(a.folders), "sim": lambda: sim(a), "whiten": lambda: whiten(a), "statistics": lambda: statistics(a)}[a.command]()


if __name__ == "__main__":
    main()
