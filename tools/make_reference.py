#!/usr/bin/env python3
"""Builds a random-weight CLIP, saves it in the Hugging Face and OpenCLIP layouts, and writes
reference embeddings computed by transformers' own CLIPModel.

The weights are drawn from a seeded generator at scales that keep attention and MLP
non-linearities in their interesting range (unlike the near-zero default init). With
--dtype f16 the weights are rounded to float16 before the reference is computed, so the
reference is exact for the stored weights; the reference forward runs in float64.

Layout of each output directory:
  Hugging Face: config.json, preprocessor_config.json, model.safetensors, reference/
  OpenCLIP:     open_clip_config.json, open_clip_model.safetensors, reference/
  reference/index.json names pixels.bin (images × 3 × S × S), image_embeds.bin, text_embeds.bin
  (rows L2-normalised), all float32 little-endian, plus the token-id lists.

OpenCLIP has one activation flag for both towers; when the Hugging Face config uses different
activations per tower, the OpenCLIP copy uses GELU for both and gets its own reference (computed
by a Hugging Face model with the same weights and the OpenCLIP-implied config).

Usage: python tools/make_reference.py --preset tiny|b32|b16 --hf-out DIR --openclip-out DIR
           [--dtype f16|f32] [--seed N] [--images N]

The committed test fixture (deterministic: regenerating gives identical bytes):
  python tools/make_reference.py --preset tiny --hf-out Tests/Fixtures/tiny-clip \
      --openclip-out Tests/Fixtures/tiny-openclip
  python tools/check_openclip.py Tests/Fixtures/tiny-openclip   # OpenCLIP's own code agrees
Full-size checks: `make parity` (tools/parity.sh).
"""
import argparse
import json
import math
import os
import sys

# The venv's torchvision does not load with its torch; transformers only needs it for image
# processors, so hide it (a None entry makes importlib report the package as absent).
sys.modules["torchvision"] = None

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

# The ViT-B towers shared by the b32 and b16 presets.
B_TEXT = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
              max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, pad_token_id=1)
B_VISION = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224,
                hidden_act="quick_gelu", layer_norm_eps=1e-5)

PRESETS = {
    # Small, with non-default choices that the Swift side must read from the files: different
    # activations per tower, non-default epsilons, MLP ratios other than 4, a small vocabulary.
    "tiny": dict(
        text=dict(vocab_size=1000, hidden_size=32, intermediate_size=72, num_hidden_layers=2,
                  num_attention_heads=2, max_position_embeddings=16, hidden_act="gelu",
                  layer_norm_eps=1e-2, bos_token_id=998, eos_token_id=999, pad_token_id=0),
        vision=dict(hidden_size=48, intermediate_size=120, num_hidden_layers=2, num_attention_heads=4,
                    image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-6),
        projection_dim=24, mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3], images=3),
    # ViT-B/32 as OpenAI shipped it, including the legacy eos_token_id 2 (argmax pooling).
    "b32": dict(text=dict(B_TEXT, bos_token_id=0, eos_token_id=2), vision=dict(B_VISION, patch_size=32),
                projection_dim=512, mean=OPENAI_MEAN, std=OPENAI_STD, images=4),
    # ViT-B/16 with a current config (eos_token_id 49407: first-EOT pooling).
    "b16": dict(text=dict(B_TEXT, bos_token_id=49406, eos_token_id=49407), vision=dict(B_VISION, patch_size=16),
                projection_dim=512, mean=OPENAI_MEAN, std=OPENAI_STD, images=4),
}


def randomise(model: CLIPModel, generator: torch.Generator) -> None:
    """Overwrites every parameter with seeded values at informative scales."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float64)
            leaf = name.rsplit(".", 1)[-1]
            if name == "logit_scale":
                value = torch.tensor(math.log(1 / 0.07) + 0.5 * noise.item())
            elif "norm" in name or "layrnorm" in name:
                value = 1 + 0.1 * noise if leaf == "weight" else 0.1 * noise
            elif "embedding" in name:
                value = 0.5 * noise
            elif leaf == "bias":
                value = 0.1 * noise
            else:  # Linear (out × in) and the patch convolution (out × c × p × p)
                fan_in = int(np.prod(p.shape[1:]))
                value = noise / math.sqrt(fan_in)
            p.copy_(value.to(p.dtype))


def to_openclip(state: dict, text_layers: int, vision_layers: int) -> dict:
    """Renames a Hugging Face CLIP state dict to OpenCLIP's names and layouts."""
    out = {}

    def blocks(hf_prefix, oc_prefix, count):
        for i in range(count):
            h, o = f"{hf_prefix}.{i}", f"{oc_prefix}.{i}"
            out[f"{o}.attn.in_proj_weight"] = torch.cat([state[f"{h}.self_attn.{x}_proj.weight"] for x in "qkv"])
            out[f"{o}.attn.in_proj_bias"] = torch.cat([state[f"{h}.self_attn.{x}_proj.bias"] for x in "qkv"])
            for leaf in ("weight", "bias"):
                out[f"{o}.attn.out_proj.{leaf}"] = state[f"{h}.self_attn.out_proj.{leaf}"]
                out[f"{o}.ln_1.{leaf}"] = state[f"{h}.layer_norm1.{leaf}"]
                out[f"{o}.ln_2.{leaf}"] = state[f"{h}.layer_norm2.{leaf}"]
                out[f"{o}.mlp.c_fc.{leaf}"] = state[f"{h}.mlp.fc1.{leaf}"]
                out[f"{o}.mlp.c_proj.{leaf}"] = state[f"{h}.mlp.fc2.{leaf}"]

    v = "vision_model"
    out["visual.conv1.weight"] = state[f"{v}.embeddings.patch_embedding.weight"]
    out["visual.class_embedding"] = state[f"{v}.embeddings.class_embedding"]
    out["visual.positional_embedding"] = state[f"{v}.embeddings.position_embedding.weight"]
    for leaf in ("weight", "bias"):
        out[f"visual.ln_pre.{leaf}"] = state[f"{v}.pre_layrnorm.{leaf}"]
        out[f"visual.ln_post.{leaf}"] = state[f"{v}.post_layernorm.{leaf}"]
        out[f"ln_final.{leaf}"] = state[f"text_model.final_layer_norm.{leaf}"]
    blocks(f"{v}.encoder.layers", "visual.transformer.resblocks", vision_layers)
    out["visual.proj"] = state["visual_projection.weight"].t()
    out["token_embedding.weight"] = state["text_model.embeddings.token_embedding.weight"]
    out["positional_embedding"] = state["text_model.embeddings.position_embedding.weight"]
    blocks("text_model.encoder.layers", "transformer.resblocks", text_layers)
    out["text_projection"] = state["text_projection.weight"].t()
    out["logit_scale"] = state["logit_scale"]
    return {k: t.contiguous() for k, t in out.items()}


def openclip_config(preset: dict) -> tuple[dict, dict, dict]:
    """OpenCLIP's config for the preset, and the text/vision HF configs it implies."""
    t, v = preset["text"], preset["vision"]
    quick = t["hidden_act"] == v["hidden_act"] == "quick_gelu"
    act = "quick_gelu" if quick else "gelu"

    def norm(cfg):
        return {"norm_kwargs": {"eps": cfg["layer_norm_eps"]}} if cfg["layer_norm_eps"] != 1e-5 else {}

    model_cfg = {
        "embed_dim": preset["projection_dim"],
        "quick_gelu": quick,
        "vision_cfg": {
            "image_size": v["image_size"], "layers": v["num_hidden_layers"], "width": v["hidden_size"],
            "patch_size": v["patch_size"], "head_width": v["hidden_size"] // v["num_attention_heads"],
            "mlp_ratio": v["intermediate_size"] / v["hidden_size"], **norm(v)},
        "text_cfg": {
            "context_length": t["max_position_embeddings"], "vocab_size": t["vocab_size"],
            "width": t["hidden_size"], "heads": t["num_attention_heads"], "layers": t["num_hidden_layers"],
            "mlp_ratio": t["intermediate_size"] / t["hidden_size"], **norm(t)},
    }
    for cfg, hf in ((model_cfg["vision_cfg"], v), (model_cfg["text_cfg"], t)):
        assert int(cfg["width"] * cfg["mlp_ratio"]) == hf["intermediate_size"], "MLP ratio not exact"
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": preset["mean"], "std": preset["std"]}}
    # OpenCLIP pools at argmax of the ids: with EOT the largest id this equals first-EOT pooling.
    return config, {**t, "hidden_act": act}, {**v, "hidden_act": act}


def make_inputs(preset: dict, generator: torch.Generator) -> tuple[torch.Tensor, list]:
    t, v = preset["text"], preset["vision"]
    size = v["image_size"]
    pixels = torch.randn((preset["images"], 3, size, size), generator=generator, dtype=torch.float32)
    vocab = t["vocab_size"]
    sot, eot = (vocab - 2, vocab - 1)
    context = t["max_position_embeddings"]

    def text(length):
        body = torch.randint(0, vocab - 2, (length - 2,), generator=generator).tolist()
        return [sot, *body, eot]

    # Empty (EOT right after SOT), full context, and a few in between.
    texts = [text(2), text(context), text(5), text(min(9, context)), text(3)]
    return pixels, texts


def reference(model: CLIPModel, pixels: torch.Tensor, texts: list) -> tuple[np.ndarray, np.ndarray]:
    model = model.double().eval()
    # transformers builds the causal mask in the default dtype; make it float64 too.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    with torch.no_grad():
        # The towers and projections spelled out (what get_*_features computes in transformers 4;
        # transformers 5 returns an output object from those instead of the tensor).
        image = model.visual_projection(model.vision_model(pixel_values=pixels.double()).pooler_output)
        text = torch.cat([model.text_projection(model.text_model(input_ids=torch.tensor([ids])).pooler_output)
                          for ids in texts])
    torch.set_default_dtype(previous)
    image = image / image.norm(dim=-1, keepdim=True)
    text = text / text.norm(dim=-1, keepdim=True)
    return image.float().numpy(), text.float().numpy()


def write_reference(directory: str, pixels: torch.Tensor, texts: list, image: np.ndarray, text: np.ndarray,
                    note: str) -> None:
    ref = os.path.join(directory, "reference")
    os.makedirs(ref, exist_ok=True)
    pixels.numpy().astype("<f4").tofile(os.path.join(ref, "pixels.bin"))
    image.astype("<f4").tofile(os.path.join(ref, "image_embeds.bin"))
    text.astype("<f4").tofile(os.path.join(ref, "text_embeds.bin"))
    index = {
        "note": note,
        "format": "float32 little-endian, row-major",
        "images": int(pixels.shape[0]), "image_shape": list(pixels.shape[1:]),
        "embed_dim": int(image.shape[1]), "texts": texts,
        "pixels": "pixels.bin", "image_embeds": "image_embeds.bin", "text_embeds": "text_embeds.bin",
    }
    with open(os.path.join(ref, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


def build(preset: dict, text_cfg: dict, vision_cfg: dict, state: dict | None, generator) -> CLIPModel:
    config = CLIPConfig(text_config=text_cfg, vision_config=vision_cfg, projection_dim=preset["projection_dim"])
    model = CLIPModel(config).eval()
    if state is None:
        randomise(model, generator)
    else:
        model.load_state_dict(state, strict=False)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True)
    parser.add_argument("--hf-out", required=True)
    parser.add_argument("--openclip-out", required=True)
    parser.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--images", type=int, help="number of reference images (default: per preset)")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    preset = dict(PRESETS[args.preset])
    if args.images:
        preset["images"] = args.images
    storage = torch.float16 if args.dtype == "f16" else torch.float32

    model = build(preset, preset["text"], preset["vision"], None, generator)
    # Round to the stored precision first, so the reference is exact for the stored weights.
    state = {k: v.detach().to(storage).float() for k, v in model.state_dict().items() if "position_ids" not in k}
    model.load_state_dict(state, strict=False)
    pixels, texts = make_inputs(preset, generator)
    note = f"preset {args.preset}, seed {args.seed}, weights {args.dtype}, reference by transformers CLIPModel in float64"

    os.makedirs(args.hf_out, exist_ok=True)
    model.config.save_pretrained(args.hf_out)
    with open(os.path.join(args.hf_out, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "CLIPImageProcessor", "image_mean": preset["mean"],
                   "image_std": preset["std"], "size": {"shortest_edge": preset["vision"]["image_size"]},
                   "crop_size": {"height": preset["vision"]["image_size"], "width": preset["vision"]["image_size"]}},
                  f, indent=1)
    save_file({k: v.to(storage).contiguous() for k, v in state.items()},
              os.path.join(args.hf_out, "model.safetensors"), metadata={"format": "pt"})
    image, text = reference(model, pixels, texts)
    write_reference(args.hf_out, pixels, texts, image, text, note)

    oc_config, oc_text, oc_vision = openclip_config(preset)
    os.makedirs(args.openclip_out, exist_ok=True)
    with open(os.path.join(args.openclip_out, "open_clip_config.json"), "w") as f:
        json.dump(oc_config, f, indent=1)
    oc_state = to_openclip(state, preset["text"]["num_hidden_layers"], preset["vision"]["num_hidden_layers"])
    save_file({k: v.to(storage).contiguous() for k, v in oc_state.items()},
              os.path.join(args.openclip_out, "open_clip_model.safetensors"), metadata={"format": "pt"})
    if (oc_text, oc_vision) != (preset["text"], preset["vision"]):
        oc_model = build(preset, oc_text, oc_vision, state, generator)
        image, text = reference(oc_model, pixels, texts)
        note += "; OpenCLIP-implied config (one activation for both towers)"
    write_reference(args.openclip_out, pixels, texts, image, text, note)
    print(f"wrote {args.hf_out} and {args.openclip_out}: {len(texts)} texts, {pixels.shape[0]} images")


if __name__ == "__main__":
    main()
