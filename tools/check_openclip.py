#!/usr/bin/env python3
"""Cross-checks an OpenCLIP-layout directory written by make_reference.py against OpenCLIP's own
model code: builds `open_clip.model.CLIP` from open_clip_config.json, loads
open_clip_model.safetensors strictly (every name must match, none left over), runs it in
float64 on the reference inputs and reports the largest difference from reference/.

The venv's torchvision does not load, so OpenCLIP's package __init__ (which imports it) is
bypassed: its modules are imported directly, with the one torchvision name they use stubbed.

Usage: python tools/check_openclip.py DIR [DIR ...]
"""
import importlib
import importlib.util
import json
import os
import sys
import types

import numpy as np
import torch
from safetensors.torch import load_file


def import_openclip_model():
    # transformers (imported by open_clip.hf_model) must first see torchvision as absent.
    sys.modules["torchvision"] = None
    import transformers  # noqa: F401
    from transformers.utils import import_utils  # noqa: F401
    misc = types.ModuleType("torchvision.ops.misc")
    misc.FrozenBatchNorm2d = type("FrozenBatchNorm2d", (torch.nn.Module,), {})
    for name, module in (("torchvision", types.ModuleType("torchvision")),
                         ("torchvision.ops", types.ModuleType("torchvision.ops")), ("torchvision.ops.misc", misc)):
        sys.modules[name] = module
    spec = importlib.util.find_spec("open_clip")
    package = types.ModuleType("open_clip")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["open_clip"] = package
    return importlib.import_module("open_clip.model")


def check(directory: str, oc_model) -> float:
    with open(os.path.join(directory, "open_clip_config.json")) as f:
        cfg = json.load(f)["model_cfg"]
    model = oc_model.CLIP(embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"], text_cfg=cfg["text_cfg"],
                          quick_gelu=cfg.get("quick_gelu", False))
    state = load_file(os.path.join(directory, "open_clip_model.safetensors"))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    model = model.double().eval()
    ref = os.path.join(directory, "reference")
    with open(os.path.join(ref, "index.json")) as f:
        index = json.load(f)
    pixels = np.fromfile(os.path.join(ref, index["pixels"]), dtype="<f4").reshape(index["images"], *index["image_shape"])
    context = cfg["text_cfg"]["context_length"]
    tokens = torch.zeros((len(index["texts"]), context), dtype=torch.long)
    for i, ids in enumerate(index["texts"]):
        tokens[i, :len(ids)] = torch.tensor(ids)
    with torch.no_grad():
        image = model.encode_image(torch.from_numpy(pixels).double(), normalize=True).numpy()
        text = model.encode_text(tokens, normalize=True).numpy()
    dim = index["embed_dim"]
    ref_image = np.fromfile(os.path.join(ref, index["image_embeds"]), dtype="<f4").reshape(-1, dim)
    ref_text = np.fromfile(os.path.join(ref, index["text_embeds"]), dtype="<f4").reshape(-1, dim)
    diff = max(np.abs(image - ref_image).max(), np.abs(text - ref_text).max())
    print(f"{directory}: OpenCLIP's own forward vs reference: max |diff| {diff:.3g}")
    return diff


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    oc_model = import_openclip_model()
    worst = max(check(d, oc_model) for d in sys.argv[1:])
    # The reference is float32-rounded float64 output; anything above float32 noise is a bug.
    sys.exit(0 if worst < 1e-5 else f"OpenCLIP disagrees with the reference (max |diff| {worst:.3g})")


if __name__ == "__main__":
    main()
