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


class Whitening(Centring):
    """`Centring` plus the stream's whitening: y = x - g a m, y' = (1 - g) y + g y W."""

    def __init__(self, text, scale, rho=0.5, refresh=256, **kw):
        self.rho, self.refresh = rho, refresh
        super().__init__(text, scale, **kw)

    def reset(self):
        super().reset()
        self.second, self.whitener, self.since, self.w_at = 0.0, None, 0.0, 0.0

    def logits(self, x):
        g = self.share() / self.a if self.a else 0.0
        y = x - self.share() * self.mean
        if g > 0 and self.whitener is not None and self.rho > 0:
            y = (1 - g) * y + g * y @ self.whitener
        return y @ self.text.T

    def add(self, x):
        decayed = self.w * np.exp(-len(x) / self.memory)
        self.second = (decayed * self.second + x.T @ x) / (decayed + len(x))
        super().add(x)
        self.since += len(x)
        if self.rho > 0 and (self.whitener is None or self.since >= min(self.refresh, self.w_at)):
            cov = self.second - np.outer(self.mean, self.mean)
            d, trace = len(cov), np.trace(cov)
            a = np.eye(d) if trace <= 1e-12 else (1 - self.rho) * np.eye(d) + self.rho * d * cov / trace
            values, vectors = np.linalg.eigh(a)
            self.whitener = (vectors * np.maximum(values, 1e-12) ** -0.5) @ vectors.T
            self.since, self.w_at = 0.0, self.w


def accuracy(c, x, y, batch=64):
    correct = 0
    for i in range(0, len(x), batch):
        correct += (c.logits(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()
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


def sim(a):
    corrupted, text, domains, (cx, cy), (lx, ly), perms, clean_order = streams(a)
    settings = [("zero-shot", dict(weight=0.0)), ("ungated", dict()), ("gate 0.15", dict(threshold=0.15)),
                ("gate 0.18", dict(threshold=0.18)), ("gate 0.20", dict(threshold=0.20))]
    print("setting      per-domain  continual  clean  label shift (orders 0..7: mean, worst vs zero-shot)")
    base = [accuracy(Centring(text, a.scale, weight=0.0), lx[o], ly[o]) for o in (label_shift_order(ly, s) for s in range(8))]
    for name, kw in settings:
        c = Centring(text, a.scale, **kw)
        per_domain = []
        for d in domains:
            c.reset()
            per_domain.append(accuracy(c, corrupted[d + "/x"][perms[d]], corrupted[d + "/y"][perms[d]]))
        c.reset()
        continual = [accuracy(c, corrupted[d + "/x"][perms[d]], corrupted[d + "/y"][perms[d]]) for d in domains]
        c.reset()
        clean_acc = accuracy(c, cx[clean_order], cy[clean_order])
        shifts = []
        for s in range(8):
            o = label_shift_order(ly, s)
            c.reset()
            shifts.append(accuracy(c, lx[o], ly[o]) - base[s])
        print(f"{name:12s} {np.mean(per_domain):10.2f} {np.mean(continual):10.2f} {clean_acc:6.2f}  {np.mean(shifts):+.2f}, {min(shifts):+.2f}", flush=True)


def whiten(a):
    corrupted, text, domains, (cx, cy), (lx, ly), perms, clean_order = streams(a)
    orders = [label_shift_order(ly, s) for s in range(8)]
    base = [accuracy(Centring(text, a.scale, weight=0.0), lx[o], ly[o]) for o in orders]
    print("setting      per-domain  continual  per-domain b16  clean  label shift (orders 0..7: mean, worst vs zero-shot)")
    for name, rho in [("gate 0.18", 0.0), ("rho 0.3", 0.3), ("rho 0.5", 0.5), ("rho 0.7", 0.7)]:
        c = Whitening(text, a.scale, rho=rho, threshold=0.18, ramp=0.05)
        def per_domain(batch):
            result = []
            for d in domains:
                c.reset()
                result.append(accuracy(c, corrupted[d + "/x"][perms[d]], corrupted[d + "/y"][perms[d]], batch))
            return np.mean(result)
        pd64, pd16 = per_domain(64), per_domain(16)
        c.reset()
        continual = [accuracy(c, corrupted[d + "/x"][perms[d]], corrupted[d + "/y"][perms[d]]) for d in domains]
        c.reset()
        clean_acc = accuracy(c, cx[clean_order], cy[clean_order])
        shifts = []
        for s, o in enumerate(orders):
            c.reset()
            shifts.append(accuracy(c, lx[o], ly[o]) - base[s])
        print(f"{name:12s} {pd64:10.2f} {np.mean(continual):10.2f} {pd16:15.2f} {clean_acc:6.2f}  {np.mean(shifts):+.2f}, {min(shifts):+.2f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed")
    e.add_argument("folders", nargs="+")
    for command in ("sim", "whiten"):
        s = sub.add_parser(command)
        s.add_argument("--corrupted", required=True)
        s.add_argument("--clean", required=True)
        s.add_argument("--label-shift", required=True)
        s.add_argument("--scale", type=float, default=11.0706, help="the model's exp(logit_scale)")
    a = p.parse_args()
    {"embed": lambda: embed(a.folders), "sim": lambda: sim(a), "whiten": lambda: whiten(a)}[a.command]()


if __name__ == "__main__":
    main()
