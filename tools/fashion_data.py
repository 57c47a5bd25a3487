"""Fashion-MNIST for the embedded CLIP: the IDX files, the class names, the caption vocabulary
(synonyms, training and held-out templates) and the pixel pipeline shared by training and
evaluation.

The pixel pipeline is CLIPImageProcessor's on a 28x28 image: convert("RGB") replicates the grey
channel, resize to shortest edge 28 and centre-crop 28 are the identity, then x/255, then
(x - mean) / std. Training feeds tensors built this way (checked against the saved processor by
`check_pipeline_matches`), so the shipped preprocessor_config.json describes exactly what the
model saw.
"""
import gzip
import os
import sys

import numpy as np

DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")

# The names exactly as the dataset spells them; index = label id.
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Training-only alternative names. The first entry is the dataset's own name, which is the only
# name the default prompt ensemble (and the Swift server) puts into the templates.
SYNONYMS = {
    "T-shirt/top": ["T-shirt/top", "t-shirt", "tee", "top"],
    "Trouser": ["Trouser", "trousers", "pants"],
    "Pullover": ["Pullover", "sweater", "jumper"],
    "Dress": ["Dress", "dress"],
    "Coat": ["Coat", "jacket"],
    "Sandal": ["Sandal", "sandals"],
    "Shirt": ["Shirt", "button-down shirt"],
    "Sneaker": ["Sneaker", "trainer", "running shoe"],
    "Bag": ["Bag", "handbag"],
    "Ankle boot": ["Ankle boot", "boot"],
}

# Used in training, and the server's default prompt ensemble.
TRAIN_TEMPLATES = [
    "a photo of a {}.",
    "a grayscale photo of a {}.",
    "a picture of a {}.",
    "a low resolution photo of a {}.",
    "a photo of the {}.",
    "a black and white photo of a {}.",
    "a small photo of a {}.",
    "a cropped photo of a {}.",
    "a close-up photo of a {}.",
    "a {}.",
]

# Never seen in training: they measure whether the text tower generalises beyond the templates.
HELDOUT_TEMPLATES = [
    "an image showing a {}.",
    "{} product photo",
    "there is a {} in this image.",
    "a catalogue image of a {}.",
    "a thumbnail of a {}.",
    "my new {}!",
]

assert not set(TRAIN_TEMPLATES) & set(HELDOUT_TEMPLATES)
assert list(SYNONYMS) == CLASS_NAMES


def import_transformers():
    """Imports transformers with torchvision hidden: the installed torchvision wheel does not
    match torch and fails on import, and transformers only needs it for optional fast image
    processors. A None entry in sys.modules makes find_spec report it absent."""
    sys.modules.setdefault("torchvision", None)
    import transformers
    return transformers


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte elements
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(split: str):
    """Returns (images uint8 [N,28,28], labels int64 [N]) for split 'train' or 't10k'."""
    prefix = {"train": "train", "test": "t10k", "t10k": "t10k"}[split]
    images = _read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    labels = _read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    return images, labels


def train_val_split(n: int, n_val: int, seed: int):
    """Fixed split of the training set: (train indices, validation indices)."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def pixel_values(images_unit, mean: float, std: float):
    """[N,28,28] floats in [0,1] -> [N,3,28,28] normalised, grey replicated to RGB."""
    x = (images_unit - mean) / std
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def prompts(templates, names):
    return [t.format(n) for t in templates for n in names]


def check_pipeline_matches(processor, images: np.ndarray, mean: float, std: float) -> float:
    """Max |difference| between CLIPImageProcessor on PIL images and `pixel_values`."""
    import torch
    from PIL import Image
    ref = processor(images=[Image.fromarray(im) for im in images], return_tensors="pt")["pixel_values"]
    ours = pixel_values(torch.from_numpy(images).float() / 255.0, mean, std)
    if ref.shape != ours.shape:
        raise ValueError(f"processor gives {tuple(ref.shape)}, training used {tuple(ours.shape)}")
    return float((ref - ours).abs().max())
