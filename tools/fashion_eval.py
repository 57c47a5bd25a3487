#!/usr/bin/env python3
"""Evaluates a CLIP directory on the Fashion-MNIST TEST split, zero-shot, the way a user would
load it: transformers.CLIPModel.from_pretrained + CLIPProcessor (fp16 weights read back as
float32). Writes DIR/eval.json and prints Markdown tables for models/README.md.

Zero-shot classifier: per class, the normalised text embeddings of every template filled with
the dataset's class name are averaged and renormalised (prompt ensembling); an image goes to the
class of highest cosine similarity. Variants reported: the default ensemble (training
templates), the held-out templates (never seen in training), each held-out template alone, and
the default templates averaged over every synonym too.

Shifts (applied to the 28x28 uint8 test image before the processor; seeded): Gaussian noise of
sigma 0.1 and 0.2 (in units of the full 0..1 range), Gaussian blur of sigma 1 pixel, contrast
scaled by 0.3 about the image mean. None of them is used in training.

Usage: python tools/fashion_eval.py models/fashion-clip [--threads 2]
"""
import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_fashion_clip.py

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from fashion_data import (CLASS_NAMES, HELDOUT_TEMPLATES, SYNONYMS, TRAIN_TEMPLATES,  # noqa: E402
                          import_transformers, load_split, train_val_split)

transformers = import_transformers()
from transformers import CLIPModel, CLIPProcessor, CLIPTokenizer  # noqa: E402


def gaussian_noise(images, sigma, rng):
    x = images.astype(np.float32) / 255.0 + rng.normal(0.0, sigma, images.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def blur(images, sigma):
    return np.stack([np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(sigma))) for im in images])


def low_contrast(images, factor):
    x = images.astype(np.float32)
    m = x.mean(axis=(1, 2), keepdims=True)
    return np.clip(m + factor * (x - m) + 0.5, 0, 255).astype(np.uint8)


SHIFTS = {
    "gaussian_noise_0.1": lambda im: gaussian_noise(im, 0.1, np.random.default_rng(1)),
    "gaussian_noise_0.2": lambda im: gaussian_noise(im, 0.2, np.random.default_rng(2)),
    "gaussian_blur_1px": lambda im: blur(im, 1.0),
    "contrast_x0.3": lambda im: low_contrast(im, 0.3),
}


@torch.no_grad()
def image_features(model, processor, images, batch=500):
    out = []
    for i in range(0, len(images), batch):
        pil = [Image.fromarray(im) for im in images[i:i + batch]]
        px = processor(images=pil, return_tensors="pt")["pixel_values"]
        out.append(F.normalize(model.get_image_features(pixel_values=px), dim=-1))
    return torch.cat(out)


@torch.no_grad()
def ensemble(model, processor, templates, names_per_class):
    """[C,D]: per class, mean of normalised embeddings over templates x names, renormalised."""
    rows = []
    for names in names_per_class:
        texts = [t.format(n) for t in templates for n in names]
        enc = processor(text=texts, padding=True, return_tensors="pt")
        emb = F.normalize(model.get_text_features(**enc), dim=-1)
        rows.append(F.normalize(emb.mean(0), dim=-1))
    return torch.stack(rows)


def predict(feats, cls):
    return (feats @ cls.t()).argmax(1).numpy()


def accuracy(pred, labels):
    return float((pred == labels).mean())


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model_dir")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    model = CLIPModel.from_pretrained(a.model_dir).eval()
    processor = CLIPProcessor.from_pretrained(a.model_dir)
    assert next(model.parameters()).dtype == torch.float32
    images, labels = load_split("test")

    main_names = [[n] for n in CLASS_NAMES]
    default_cls = ensemble(model, processor, TRAIN_TEMPLATES, main_names)
    heldout_cls = ensemble(model, processor, HELDOUT_TEMPLATES, main_names)
    synonym_cls = ensemble(model, processor, TRAIN_TEMPLATES, [SYNONYMS[n] for n in CLASS_NAMES])

    feats = image_features(model, processor, images)
    pred = predict(feats, default_cls)
    n = len(CLASS_NAMES)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    per_class = {CLASS_NAMES[c]: float(confusion[c, c] / confusion[c].sum()) for c in range(n)}

    result = {
        "model_dir": a.model_dir,
        "test_images": int(len(labels)),
        "clean": {
            "default_ensemble": accuracy(pred, labels),
            "heldout_ensemble": accuracy(predict(feats, heldout_cls), labels),
            "default_templates_all_synonyms": accuracy(predict(feats, synonym_cls), labels),
            "heldout_single_template": {
                t: accuracy(predict(feats, ensemble(model, processor, [t], main_names)), labels)
                for t in HELDOUT_TEMPLATES},
        },
        "per_class_default_ensemble": per_class,
        "confusion_matrix": {"rows": "true class", "columns": "predicted class", "labels": CLASS_NAMES,
                             "counts": confusion.tolist()},
        "shifts_default_ensemble": {},
    }
    for name, fn in SHIFTS.items():
        result["shifts_default_ensemble"][name] = accuracy(predict(image_features(model, processor, fn(images)), default_cls), labels)
    # The captions were tokenised in training by the slow CLIPTokenizer; CLIPProcessor may load
    # the fast one. Both must give the same ids for every prompt the server can build.
    slow = CLIPTokenizer.from_pretrained(a.model_dir)
    texts = [t.format(s) for t in TRAIN_TEMPLATES + HELDOUT_TEMPLATES for c in CLASS_NAMES for s in SYNONYMS[c]]
    result["tokenizers_agree"] = slow(texts)["input_ids"] == processor.tokenizer(texts)["input_ids"]
    log_path = os.path.join(a.model_dir, "training_log.json")
    if os.path.exists(log_path):
        with open(log_path) as f:
            log = json.load(f)
        result["training"] = {k: log[k] for k in ("best_epoch", "best_val_acc", "train_seconds") if k in log}
        # Reproduce the validation accuracy of the exported epoch through the public loaders.
        tr_images, tr_labels = load_split("train")
        _, val_idx = train_val_split(len(tr_labels), log["args"]["val_size"], log["args"]["seed"])
        val_pred = predict(image_features(model, processor, tr_images[val_idx]), default_cls)
        result["training"]["val_acc_reloaded_fp16_as_fp32"] = accuracy(val_pred, tr_labels[val_idx])
    size = sum(os.path.getsize(os.path.join(a.model_dir, f)) for f in os.listdir(a.model_dir)
               if f != "eval.json")
    result["directory_bytes"] = size
    result["eval_seconds"] = round(time.time() - t0, 1)
    with open(os.path.join(a.model_dir, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    c = result["clean"]
    print(md_table(["prompts", "test accuracy"], [
        ["default ensemble (training templates, class name)", f"{100 * c['default_ensemble']:.2f} %"],
        ["held-out templates ensemble", f"{100 * c['heldout_ensemble']:.2f} %"],
        ["training templates x all synonyms", f"{100 * c['default_templates_all_synonyms']:.2f} %"],
    ] + [[f"held-out `{t}` alone", f"{100 * v:.2f} %"] for t, v in c["heldout_single_template"].items()]))
    print()
    print(md_table(["class", "accuracy"], [[k, f"{100 * v:.1f} %"] for k, v in per_class.items()]))
    print()
    short = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
    print(md_table(["true \\ predicted"] + short,
                   [[short[i]] + confusion[i].tolist() for i in range(n)]))
    print()
    print(md_table(["test images", "accuracy"], [["clean", f"{100 * c['default_ensemble']:.2f} %"]] +
                   [[k, f"{100 * v:.2f} %"] for k, v in result["shifts_default_ensemble"].items()]))
    if "training" in result:
        t = result["training"]
        print(f"\nvalidation: {100 * t['best_val_acc']:.2f} % in training (fp32), "
              f"{100 * t['val_acc_reloaded_fp16_as_fp32']:.2f} % reloaded (fp16 -> fp32, CLIPProcessor)")
    print(f"tokenizers agree: {result['tokenizers_agree']}")
    print(f"directory {size / 1e6:.2f} MB; evaluated in {result['eval_seconds']:.0f}s")


if __name__ == "__main__":
    main()
