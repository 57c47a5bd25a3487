#!/usr/bin/env python3
"""Writes the image decoding / preprocessing fixtures under Tests/Fixtures/images.

Every good image is written twice over: the encoded file, and what the reference pipeline makes
of it: `Image.open(f).convert("RGB")` as raw RGB bytes (decoded/*.rgb) and, for a few
preprocessing configs, `CLIPImageProcessor(**config)(Image.open(f))["pixel_values"]` as float32
little-endian (pixel_values/*.f32, CHW). manifest.json ties them together and lists the bad
files with the error each must give. PNGs are written by a small encoder here (not Pillow) so
every colour type, bit depth, filter type and Adam7 interlacing is covered.

Usage: python tools/make_image_fixtures.py [OUT_DIR]   (default Tests/Fixtures/images)
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

# The venv's torchvision wheel does not load with its torch; CLIPImageProcessor does not need it,
# so hide it from transformers' optional-import probing.
sys.modules["torchvision"] = None
from transformers import CLIPImageProcessor  # noqa: E402

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

# name -> (preprocessor_config.json contents, images it is checked on, sampling stride)
# The 224 outputs are stored on every 4th row and column only, to keep the fixtures small.
CONFIGS = {
    "clip224": (
        {"do_resize": True, "size": {"shortest_edge": 224}, "resample": 3,
         "do_center_crop": True, "crop_size": {"height": 224, "width": 224},
         "do_rescale": True, "rescale_factor": 0.00392156862745098,
         "do_normalize": True, "image_mean": OPENAI_MEAN, "image_std": OPENAI_STD,
         "do_convert_rgb": True, "image_processor_type": "CLIPImageProcessor"},
        ["png_nonsquare_50x37.png", "png_fmnist_28x28.png", "png_1x1.png", "jpeg_rgb.jpg"], 4),
    "tiny32": (
        {"size": 32, "crop_size": 32, "image_mean": OPENAI_MEAN, "image_std": OPENAI_STD},
        None, 1),  # None: every good image
    "fmnist28": (
        {"size": {"shortest_edge": 28}, "crop_size": 28, "image_mean": [0.5, 0.5, 0.5],
         "image_std": [0.5, 0.5, 0.5]},
        ["png_fmnist_28x28.png", "png_nonsquare_50x37.png", "png_tall_40x200.png", "png_1x1.png",
         "png_rgb.png"], 1),
    # Crop larger than the resized image: transformers pads with zeros before normalising.
    "pad20to32": (
        {"size": 20, "crop_size": {"height": 32, "width": 32}, "image_mean": 0.5, "image_std": 0.25,
         "do_rescale": True, "rescale_factor": 0.00392156862745098},
        ["png_nonsquare_50x37.png", "png_tall_40x200.png", "png_fmnist_28x28.png"], 1),
}


# Direct Image.resize(BICUBIC) references: (source image, target width, target height). They
# cover shrinking, enlarging, one axis only, and both pass orders (Pillow 13 resizes vertically
# first when the height loses more than twice as many pixels as the width).
RESIZES = [
    ("png_nonsquare_50x37.png", 13, 7), ("png_nonsquare_50x37.png", 97, 31),
    ("png_nonsquare_50x37.png", 50, 90), ("png_nonsquare_50x37.png", 44, 9),
    ("png_tall_40x200.png", 30, 61), ("png_tall_40x200.png", 39, 199),
    ("png_tall_40x200.png", 64, 150), ("png_fmnist_28x28.png", 64, 96),
    ("png_1x1.png", 5, 3),
]


# ---------------------------------------------------------------------------------------------
# A minimal PNG encoder: any colour type / bit depth, per-row filter types, optional Adam7.

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _pack_row(samples: np.ndarray, bit_depth: int) -> bytes:
    """samples: (width, channels) unsigned ints -> the raw (unfiltered) scanline bytes."""
    flat = samples.reshape(-1).astype(np.uint32)
    if bit_depth == 16:
        return flat.astype(">u2").tobytes()
    if bit_depth == 8:
        return flat.astype(np.uint8).tobytes()
    per_byte = 8 // bit_depth
    padded = np.zeros(-(-len(flat) // per_byte) * per_byte, np.uint32)
    padded[: len(flat)] = flat
    groups = padded.reshape(-1, per_byte)
    shifts = np.array([8 - bit_depth * (i + 1) for i in range(per_byte)], np.uint32)
    return (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_row(kind: int, row: bytes, prev: bytes, bpp: int) -> bytes:
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i] if prev else 0
        c = prev[i - bpp] if prev and i >= bpp else 0
        predictor = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
        out[i] = (x - predictor) & 0xFF
    return bytes([kind]) + bytes(out)


def _image_data(samples: np.ndarray, bit_depth: int, channels: int) -> bytes:
    bpp = max(1, channels * bit_depth // 8)
    raw, prev = bytearray(), b""
    for y in range(samples.shape[0]):
        row = _pack_row(samples[y], bit_depth)
        raw += _filter_row(y % 5, row, prev, bpp)  # cycle through all five filter types
        prev = row
    return bytes(raw)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def encode_png(samples: np.ndarray, bit_depth: int, color_type: int, palette=None, trns=None,
               interlace: bool = False) -> bytes:
    """samples: (height, width, channels) array of sample values at `bit_depth`."""
    h, w, channels = samples.shape
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        data = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                data += _image_data(sub, bit_depth, channels)
    else:
        data = _image_data(samples, bit_depth, channels)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    compressed = zlib.compress(data, 9)
    half = len(compressed) // 2  # two IDAT chunks: the decoder must join them
    out += _chunk(b"IDAT", compressed[:half]) + _chunk(b"IDAT", compressed[half:])
    return out + _chunk(b"IEND", b"")


# ---------------------------------------------------------------------------------------------
# Test images: smooth gradients plus noise, so both resampling and colour handling show.

def pattern(h: int, w: int, channels: int, maximum: int, seed: int) -> np.ndarray:
    rs = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = [(x * 7 + y * 3), (x * 2 + y * 9 + 40), (x * y + 90), (x * 5 + 200)]
    planes = []
    for c in range(channels):
        plane = (base[c % 4] % 256).astype(np.float64) / 255.0
        plane = plane * 0.8 + rs.rand(h, w) * 0.2
        planes.append(np.round(plane * maximum))
    return np.stack(planes, axis=-1).astype(np.uint32)


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def strip_adobe_marker(data: bytes) -> bytes:
    """Removes the APP14 'Adobe' segment, leaving a 4-component JPEG without it."""
    out, i = bytearray(data[:2]), 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        segment = data[i:i + 2 + length]
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            out += data[i:]
            break
        if not (marker == 0xEE and segment[4:9] == b"Adobe"):
            out += segment
        i += 2 + length
    return bytes(out)


def set_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrites the SOF dimensions of a JPEG (leaving the scan data as is)."""
    out, i = bytearray(data), 2
    while i < len(out):
        marker, length = out[i + 1], struct.unpack(">H", out[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            out[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(out)
        i += 2 + length
    raise ValueError("no SOF marker")


def good_images() -> dict:
    images = {}
    gray = pattern(23, 31, 1, 255, 1)
    images["png_gray8.png"] = encode_png(gray, 8, 0)
    # 16-bit gray spans 0..65535: Pillow opens it as I;16 and clips to 255 when converting.
    gray16 = pattern(19, 21, 1, 65535, 2)
    gray16[0, :8, 0] = [0, 1, 100, 255, 256, 300, 1000, 65535]
    images["png_gray16.png"] = encode_png(gray16, 16, 0)
    images["png_gray2.png"] = encode_png(pattern(9, 13, 1, 3, 3), 2, 0)
    images["png_gray_alpha.png"] = encode_png(pattern(17, 19, 2, 255, 4), 8, 4)
    images["png_gray_alpha16.png"] = encode_png(pattern(11, 14, 2, 65535, 5), 16, 4)
    palette = pattern(1, 40, 3, 255, 6)[0]
    index = pattern(21, 25, 1, 39, 7)
    images["png_palette.png"] = encode_png(index, 8, 3, palette=palette)
    images["png_palette_trns.png"] = encode_png(
        index, 8, 3, palette=palette, trns=bytes(range(0, 200, 10)))
    images["png_palette4.png"] = encode_png(pattern(15, 17, 1, 15, 8), 4, 3, palette=palette[:16])
    images["png_rgb.png"] = encode_png(pattern(33, 47, 3, 255, 9), 8, 2)
    images["png_rgba.png"] = encode_png(pattern(29, 35, 4, 255, 10), 8, 6)
    images["png_rgb16.png"] = encode_png(pattern(18, 22, 3, 65535, 11), 16, 2)
    images["png_rgba16.png"] = encode_png(pattern(13, 16, 4, 65535, 12), 16, 6)
    images["png_interlaced_rgb.png"] = encode_png(pattern(37, 41, 3, 255, 13), 8, 2, interlace=True)
    images["png_interlaced_gray16.png"] = encode_png(pattern(13, 11, 1, 400, 14), 16, 0, interlace=True)
    images["png_interlaced_palette.png"] = encode_png(
        pattern(10, 9, 1, 15, 15), 4, 3, palette=palette[:16], interlace=True)
    images["png_1x1.png"] = encode_png(np.array([[[200, 30, 90]]], np.uint32), 8, 2)
    images["png_nonsquare_50x37.png"] = encode_png(pattern(37, 50, 3, 255, 16), 8, 2)
    images["png_fmnist_28x28.png"] = encode_png(pattern(28, 28, 1, 255, 17), 8, 0)
    # Tall: its height shrinks by more than twice the width, so Pillow 13 resizes vertically first.
    images["png_tall_40x200.png"] = encode_png(pattern(200, 40, 3, 255, 18), 8, 2)

    rgb = Image.fromarray(pattern(48, 64, 3, 255, 19).astype(np.uint8))
    images["jpeg_gray.jpg"] = jpeg_bytes(Image.fromarray(pattern(40, 44, 1, 255, 20)[..., 0].astype(np.uint8)), quality=90)
    images["jpeg_rgb.jpg"] = jpeg_bytes(rgb, quality=90)  # baseline, 4:2:0
    images["jpeg_rgb444.jpg"] = jpeg_bytes(rgb, quality=95, subsampling=0)
    images["jpeg_progressive.jpg"] = jpeg_bytes(rgb, quality=85, progressive=True)
    cmyk = Image.fromarray(pattern(30, 36, 4, 255, 21).astype(np.uint8), "CMYK")
    images["jpeg_cmyk.jpg"] = jpeg_bytes(cmyk, quality=92)  # Adobe APP14, inverted (Photoshop)
    images["jpeg_cmyk_no_adobe.jpg"] = strip_adobe_marker(images["jpeg_cmyk.jpg"])
    images["jpeg_1x1.jpg"] = jpeg_bytes(Image.new("RGB", (1, 1), (10, 200, 120)), quality=95)
    return images


def bad_images(good: dict) -> dict:
    rs = np.random.RandomState(99)
    huge_png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
                + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))
    corrupt_crc = bytearray(good["png_rgb.png"])
    corrupt_crc[60] ^= 0xFF  # inside the first IDAT: its CRC no longer matches
    return {
        "bad_empty.png": (b"", "empty"),
        "bad_random.bin": (rs.randint(0, 256, 512).astype(np.uint8).tobytes(), "unsupportedFormat"),
        "bad_truncated.png": (good["png_rgb.png"][: len(good["png_rgb.png"]) // 2], "corrupt"),
        "bad_truncated_interlaced.png": (good["png_interlaced_rgb.png"][:-200], "corrupt"),
        "bad_truncated.jpg": (good["jpeg_rgb.jpg"][: len(good["jpeg_rgb.jpg"]) // 2], "corrupt"),
        "bad_truncated_progressive.jpg": (good["jpeg_progressive.jpg"][: len(good["jpeg_progressive.jpg"]) * 2 // 3], "corrupt"),
        "bad_crc.png": (bytes(corrupt_crc), "corrupt"),
        "bad_png_signature_only.png": (b"\x89PNG\r\n\x1a\n", "corrupt"),
        "bad_jpeg_header_only.jpg": (good["jpeg_rgb.jpg"][:3], "corrupt"),
        "bad_huge.png": (huge_png, "tooLarge"),
        "bad_huge.jpg": (set_jpeg_size(good["jpeg_rgb.jpg"], 65000, 65000), "tooLarge"),
    }


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/images"
    for sub in ("", "decoded", "pixel_values", "configs"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    good = good_images()
    manifest = {"images": [], "bad": [], "preprocess": [], "resize": []}
    for name, data in good.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        im = Image.open(io.BytesIO(data))
        mode = im.mode
        rgb = np.asarray(im.convert("RGB"))
        stem = os.path.splitext(name)[0]
        with open(os.path.join(out, "decoded", stem + ".rgb"), "wb") as f:
            f.write(rgb.tobytes())
        manifest["images"].append({"file": name, "width": rgb.shape[1], "height": rgb.shape[0],
                                   "pil_mode": mode, "rgb": f"decoded/{stem}.rgb"})
    for name, (data, error) in bad_images(good).items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        manifest["bad"].append({"file": name, "error": error})
    os.makedirs(os.path.join(out, "resized"), exist_ok=True)
    for name, width, height in RESIZES:
        source = Image.open(io.BytesIO(good[name])).convert("RGB")
        path = f"resized/{os.path.splitext(name)[0]}_to_{width}x{height}.rgb"
        with open(os.path.join(out, path), "wb") as f:
            f.write(np.asarray(source.resize((width, height), Image.BICUBIC)).tobytes())
        manifest["resize"].append({"image": name, "width": width, "height": height, "rgb": path})
    for config_name, (config, names, stride) in CONFIGS.items():
        with open(os.path.join(out, "configs", config_name + ".json"), "w") as f:
            json.dump(config, f, indent=2)
        processor = CLIPImageProcessor(**config)
        for name in names or list(good):
            im = Image.open(io.BytesIO(good[name]))
            # Stated explicitly: transformers guesses the channel axis, and guesses wrong for a
            # 1x1 image (shape 1x1x3 looks channels-first to it).
            values = processor(im, return_tensors="np", input_data_format="channels_last")[
                "pixel_values"][0].astype("<f4")
            shape = list(values.shape)
            sampled = np.ascontiguousarray(values[:, ::stride, ::stride])
            path = f"pixel_values/{config_name}_{os.path.splitext(name)[0]}.f32"
            with open(os.path.join(out, path), "wb") as f:
                f.write(sampled.tobytes())
            manifest["preprocess"].append({"config": f"configs/{config_name}.json", "image": name,
                                           "values": path, "shape": shape, "stride": stride})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"wrote {len(good)} good and {len(manifest['bad'])} bad images, "
          f"{len(manifest['preprocess'])} preprocessing references to {out} ({total} bytes)")


if __name__ == "__main__":
    main()
