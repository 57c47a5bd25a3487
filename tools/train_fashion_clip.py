#!/usr/bin/env python3
"""Trains the embedded default model: a small two-tower CLIP (Hugging Face CLIPModel layout) on
the Fashion-MNIST training split, contrastively, and exports it to OUT (fp16 safetensors,
tokenizer, image processor, prompts.json, training_log.json).

Data: the 60 000 training images only; a fixed 5 000 of them are held out for model selection
(the checkpoint with the best validation zero-shot accuracy is exported). The test split is never
read here.

Captions: every (name, template) pair over SYNONYMS x TRAIN_TEMPLATES (fashion_data.py), tokenised
once. Each step samples --captions-per-class captions for every class (the dataset's own name half
of the time, otherwise any synonym) and encodes that small text batch once for all images.

Loss: several captions of the same class sit in one batch, so plain CLIP's one-hot diagonal
targets would call same-class pairs negatives. Instead the targets are supervised-contrastive:
every (image, caption) pair of the same class is a positive, and each row's target distribution
is uniform over its positives. Image->text rows (over the sampled captions) and text->image rows
(over the images of the batch; a caption whose class has no image in the batch is skipped) are
averaged, as CLIP averages its two directions.

Augmentation: horizontal flips, and for a fraction (--shift-prob) of the images pad 2 + random
28x28 crop (shifts of up to 2 pixels); nothing else, nothing corruption-like, since the
test-time-adaptation benchmark measures corruptions the backbone has never seen.

Usage: python tools/train_fashion_clip.py --out models/fashion-clip [--epochs N] [--subset N]
"""
import argparse
import json
import math
import os
import time
from copy import deepcopy

# Idle OpenMP workers sleep instead of spinning: on a shared machine a spinning worker whose
# partner was descheduled burns the core the partner needs (measured 3.2 s/step vs 0.7 s/step).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

from fashion_data import (CLASS_NAMES, HELDOUT_TEMPLATES, SYNONYMS, TRAIN_TEMPLATES,
                          check_pipeline_matches, import_transformers, load_split, pixel_values,
                          prompts, train_val_split)

transformers = import_transformers()
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer  # noqa: E402

LOGIT_SCALE_MAX = math.log(100.0)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="models/fashion-clip")
    p.add_argument("--vocab-dir", default=None, help="vocab.json/merges.txt (default: --out)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--vision-width", type=int, default=128)
    p.add_argument("--vision-layers", type=int, default=4)
    p.add_argument("--patch", type=int, default=7)
    p.add_argument("--text-width", type=int, default=128)
    p.add_argument("--text-layers", type=int, default=4)
    p.add_argument("--context", type=int, default=32, help="max_position_embeddings of the text tower")
    p.add_argument("--projection-dim", type=int, default=128)
    p.add_argument("--captions-per-class", type=int, default=2)
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--subset", type=int, default=0, help="train on the first N training images (timing)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--shift", type=int, default=2, help="largest translation in pixels (pad + random crop)")
    p.add_argument("--shift-prob", type=float, default=0.5, help="fraction of images translated")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--no-export", action="store_true")
    return p.parse_args()


def make_config(a) -> CLIPConfig:
    text = dict(vocab_size=49408, hidden_size=a.text_width, intermediate_size=4 * a.text_width,
                num_hidden_layers=a.text_layers, num_attention_heads=a.text_width // 32,
                max_position_embeddings=a.context, hidden_act="quick_gelu",
                bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    vision = dict(hidden_size=a.vision_width, intermediate_size=4 * a.vision_width,
                  num_hidden_layers=a.vision_layers, num_attention_heads=a.vision_width // 32,
                  image_size=28, patch_size=a.patch, num_channels=3, hidden_act="quick_gelu")
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=a.projection_dim,
                      logit_scale_init_value=math.log(1 / 0.07))


def caption_bank(tokenizer):
    """All training captions tokenised once: ids [N,L], mask [N,L], class [N], and per class the
    rows using the dataset's own name and all rows."""
    texts, classes, is_main = [], [], []
    for c, name in enumerate(CLASS_NAMES):
        for syn in SYNONYMS[name]:
            for t in TRAIN_TEMPLATES:
                texts.append(t.format(syn))
                classes.append(c)
                is_main.append(syn == name)
    enc = tokenizer(texts, padding="longest", return_tensors="pt")
    classes = torch.tensor(classes)
    is_main = torch.tensor(is_main)
    main_rows = [torch.nonzero((classes == c) & is_main).flatten() for c in range(len(CLASS_NAMES))]
    all_rows = [torch.nonzero(classes == c).flatten() for c in range(len(CLASS_NAMES))]
    return enc["input_ids"], enc["attention_mask"], classes, main_rows, all_rows, texts


class CompactTokenEmbedding(torch.nn.Module):
    """Trains only the rows of the 49 408-token table that the captions use (a few dozen).

    Rows that never occur get no gradient, and AdamW without weight decay leaves a parameter
    with zero gradient unchanged, so this is the same model as training the full table, minus
    the cost of a dense 6.3 M-row optimiser step. `write_back` puts the rows into the table."""

    def __init__(self, full: torch.nn.Embedding, used_ids: torch.Tensor):
        super().__init__()
        self.full = full
        self.full.weight.requires_grad_(False)
        self.register_buffer("used_ids", used_ids)
        lookup = torch.full((full.num_embeddings,), -1, dtype=torch.long)
        lookup[used_ids] = torch.arange(len(used_ids))
        self.register_buffer("lookup", lookup)
        self.rows = torch.nn.Parameter(full.weight.detach()[used_ids].clone())

    def forward(self, input_ids):
        idx = self.lookup[input_ids]
        if bool((idx < 0).any()):
            raise ValueError("a token outside the caption vocabulary reached the compact embedding")
        return self.rows[idx]

    def write_back(self) -> torch.nn.Embedding:
        with torch.no_grad():
            self.full.weight[self.used_ids] = self.rows
        self.full.weight.requires_grad_(True)
        return self.full


def sample_captions(gen, main_rows, all_rows, per_class):
    rows = []
    for c in range(len(main_rows)):
        for _ in range(per_class):
            pool = main_rows[c] if torch.rand((), generator=gen) < 0.5 else all_rows[c]
            rows.append(pool[torch.randint(len(pool), (), generator=gen)])
    return torch.stack(rows)


def augment(x, gen, shift=2, shift_prob=1.0):
    """x [B,28,28] in [0,1]: with probability shift_prob zero-pad `shift` and take a random 28x28
    crop (a translation of up to `shift` pixels each way), then a random horizontal flip."""
    b = x.shape[0]
    padded = F.pad(x, (shift, shift, shift, shift))
    moved = torch.rand(b, generator=gen) < shift_prob
    dy = torch.where(moved, torch.randint(0, 2 * shift + 1, (b,), generator=gen), shift)
    dx = torch.where(moved, torch.randint(0, 2 * shift + 1, (b,), generator=gen), shift)
    ar = torch.arange(28)
    rows = (dy[:, None] + ar)[:, :, None]
    cols = (dx[:, None] + ar)[:, None, :]
    out = padded[torch.arange(b)[:, None, None], rows, cols]
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None], out.flip(-1), out)


def contrastive_loss(img, txt, img_labels, txt_labels, scale):
    """Supervised-contrastive CLIP loss (see module doc). img [B,D], txt [T,D] normalised."""
    logits = scale * img @ txt.t()
    pos = (img_labels[:, None] == txt_labels[None, :]).float()
    i2t = -(pos / pos.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    pos_t = pos.t()
    has = pos_t.sum(1) > 0
    t2i = -(pos_t[has] / pos_t[has].sum(1, keepdim=True) * F.log_softmax(logits.t()[has], 1)).sum(1).mean()
    return 0.5 * (i2t + t2i), logits


@torch.no_grad()
def class_embeddings(model, tokenizer, templates):
    """Prompt ensemble: per class the mean of the normalised template embeddings (dataset's own
    name only), renormalised. Returns [C,D]."""
    texts = prompts(templates, CLASS_NAMES)  # template-major: row t*C + c
    enc = tokenizer(texts, padding="longest", return_tensors="pt")
    emb = F.normalize(model.get_text_features(**enc), dim=-1)
    emb = emb.view(len(templates), len(CLASS_NAMES), -1).mean(0)
    return F.normalize(emb, dim=-1)


@torch.no_grad()
def image_embeddings(model, images_unit, mean, std, batch=1000):
    feats = [F.normalize(model.get_image_features(pixel_values=pixel_values(images_unit[i:i + batch], mean, std)), dim=-1)
             for i in range(0, len(images_unit), batch)]
    return torch.cat(feats)


@torch.no_grad()
def zero_shot_accuracy(model, tokenizer, feats, labels, templates):
    cls = class_embeddings(model, tokenizer, templates)
    return float(((feats @ cls.t()).argmax(1) == labels).float().mean())


def lr_factor(step, total, warmup):
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def param_groups(model, weight_decay):
    """No decay on biases, norms, embeddings (most token rows never occur in the captions) and
    the logit scale."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or "embedding" in name or "norm" in name or name == "logit_scale":
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def write_log(out, log):
    with open(os.path.join(out, "training_log.json"), "w") as f:
        json.dump(log, f, indent=2)
        f.write("\n")


# projection_dim is left out of the towers: CLIPModel uses only the top-level value.
ARCHITECTURE_KEYS = ("vocab_size", "hidden_size", "intermediate_size",
                     "num_hidden_layers", "num_attention_heads", "max_position_embeddings",
                     "hidden_act", "layer_norm_eps", "bos_token_id", "eos_token_id", "pad_token_id",
                     "num_channels", "image_size", "patch_size")


def write_full_config(config, out):
    """Adds to config.json every field that shapes the network (save_pretrained drops values equal
    to transformers' defaults, e.g. hidden_act, eos_token_id, layer_norm_eps), so a loader that is
    not transformers need not know those defaults."""
    path = os.path.join(out, "config.json")
    with open(path) as f:
        d = json.load(f)
    d["projection_dim"] = config.projection_dim
    d["logit_scale_init_value"] = config.logit_scale_init_value
    for name, sub in (("text_config", config.text_config), ("vision_config", config.vision_config)):
        for key in ARCHITECTURE_KEYS:
            if getattr(sub, key, None) is not None:
                d[name][key] = getattr(sub, key)
        d[name].pop("projection_dim", None)
        d[name] = dict(sorted(d[name].items()))
    with open(path, "w") as f:
        json.dump(d, f, indent=2, sort_keys=True)
        f.write("\n")


def export(model, tokenizer, mean, std, out, log):
    """Saves a copy of `model` with the trained token rows written into the full table, in fp16."""
    os.makedirs(out, exist_ok=True)
    copy = deepcopy(model)
    emb = copy.text_model.embeddings
    emb.token_embedding = emb.token_embedding.write_back()
    copy.half().save_pretrained(out, safe_serialization=True)
    write_full_config(copy.config, out)
    tokenizer.save_pretrained(out)
    processor = CLIPImageProcessor(
        do_resize=True, size={"shortest_edge": 28}, resample=3, do_center_crop=True,
        crop_size={"height": 28, "width": 28}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=[mean] * 3, image_std=[std] * 3, do_convert_rgb=True)
    processor.save_pretrained(out)
    with open(os.path.join(out, "prompts.json"), "w") as f:
        json.dump({"labels": CLASS_NAMES, "templates": TRAIN_TEMPLATES,
                   "heldout_templates": HELDOUT_TEMPLATES}, f, indent=2)
        f.write("\n")
    write_log(out, log)


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    vocab_dir = a.vocab_dir or a.out
    tokenizer = CLIPTokenizer(os.path.join(vocab_dir, "vocab.json"), os.path.join(vocab_dir, "merges.txt"),
                              model_max_length=a.context)

    images, labels = load_split("train")
    tr_idx, val_idx = train_val_split(len(labels), a.val_size, a.seed)
    if a.subset:
        tr_idx = tr_idx[:a.subset]
    x_tr = torch.from_numpy(images[tr_idx]).float() / 255.0
    y_tr = torch.from_numpy(labels[tr_idx])
    x_val = torch.from_numpy(images[val_idx]).float() / 255.0
    y_val = torch.from_numpy(labels[val_idx])
    # The dataset's statistics (training part), rounded so the JSON states them exactly.
    mean = round(float(x_tr.mean()), 4)
    std = round(float(x_tr.std()), 4)

    ids, mask, cap_classes, main_rows, all_rows, texts = caption_bank(tokenizer)
    assert ids.shape[1] <= a.context, f"captions need {ids.shape[1]} tokens > context {a.context}"
    print(f"train {len(y_tr)}  val {len(y_val)}  mean {mean} std {std}  "
          f"captions {len(texts)} x {ids.shape[1]} tokens", flush=True)

    model = CLIPModel(make_config(a))
    n_params = sum(p.numel() for p in model.parameters())
    emb = model.text_model.embeddings
    heldout_ids = tokenizer(prompts(HELDOUT_TEMPLATES, CLASS_NAMES))["input_ids"]
    used_ids = torch.tensor(sorted(set(ids[mask.bool()].tolist()) | {t for r in heldout_ids for t in r}))
    emb.token_embedding = CompactTokenEmbedding(emb.token_embedding, used_ids)
    print(f"parameters {n_params / 1e6:.2f} M; token rows trained {len(used_ids)}", flush=True)
    opt = torch.optim.AdamW(param_groups(model, a.weight_decay), lr=a.lr, betas=(0.9, 0.98), eps=1e-6)
    steps_per_epoch = len(y_tr) // a.batch_size
    total = steps_per_epoch * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, a.warmup_steps))

    log = {"args": vars(a), "image_mean": mean, "image_std": std, "parameters": n_params,
           "train_images": len(y_tr), "val_images": len(y_val), "epochs": []}
    best_acc, step = -1.0, 0
    t0, c0 = time.time(), time.process_time()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(y_tr), generator=gen)
        run_loss, run_acc, n_run = 0.0, 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * a.batch_size:(b + 1) * a.batch_size]
            px = pixel_values(augment(x_tr[idx], gen, a.shift, a.shift_prob), mean, std)
            rows = sample_captions(gen, main_rows, all_rows, a.captions_per_class)
            img = F.normalize(model.get_image_features(pixel_values=px), dim=-1)
            txt = F.normalize(model.get_text_features(input_ids=ids[rows], attention_mask=mask[rows]), dim=-1)
            loss, logits = contrastive_loss(img, txt, y_tr[idx], cap_classes[rows], model.logit_scale.exp())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, LOGIT_SCALE_MAX)
            step += 1
            run_loss += float(loss.detach())
            run_acc += float((cap_classes[rows][logits.argmax(1)] == y_tr[idx]).float().mean())
            n_run += 1
            if step % a.log_every == 0:
                print(f"epoch {epoch + 1} step {step}/{total} loss {run_loss / n_run:.4f} "
                      f"batch-acc {run_acc / n_run:.4f} scale {model.logit_scale.exp().item():.1f} "
                      f"lr {sched.get_last_lr()[0]:.2e} {time.time() - t0:.0f}s", flush=True)
                run_loss, run_acc, n_run = 0.0, 0.0, 0
        model.eval()
        feats = image_embeddings(model, x_val, mean, std)
        val = zero_shot_accuracy(model, tokenizer, feats, y_val, TRAIN_TEMPLATES)
        val_ho = zero_shot_accuracy(model, tokenizer, feats, y_val, HELDOUT_TEMPLATES)
        elapsed = time.time() - t0
        log["epochs"].append({"epoch": epoch + 1, "val_acc": val, "val_acc_heldout_templates": val_ho,
                              "seconds": round(elapsed, 1), "cpu_seconds": round(time.process_time() - c0, 1)})
        print(f"== epoch {epoch + 1}: val zero-shot {val:.4f} (held-out templates {val_ho:.4f}) "
              f"{elapsed:.0f}s", flush=True)
        if val > best_acc:
            best_acc = val
            log["best_epoch"] = epoch + 1
            log["best_val_acc"] = best_acc
            log["train_seconds"] = round(time.time() - t0, 1)
            if not a.no_export:  # export every improvement: an interrupted run still leaves a model
                export(model, tokenizer, mean, std, a.out, log)
        else:
            log["train_seconds"] = round(time.time() - t0, 1)
            if not a.no_export:
                write_log(a.out, log)
    print(f"trained in {log['train_seconds']:.0f}s; best val {best_acc:.4f} at epoch {log['best_epoch']}")
    if a.no_export:
        return
    diff = check_pipeline_matches(CLIPImageProcessor.from_pretrained(a.out), images[val_idx[:64]], mean, std)
    print(f"exported epoch {log['best_epoch']} to {a.out}; processor vs training pipeline max |diff| {diff:.2e}")
    if diff > 1e-5:
        raise SystemExit("the saved preprocessor does not describe the training pipeline")

if __name__ == "__main__":
    main()
