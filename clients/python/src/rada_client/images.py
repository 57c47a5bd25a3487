"""Turns the image inputs the client accepts into PNG/JPEG file bytes for a multipart body.

Accepted: a path (str or os.PathLike) to a PNG or JPEG file, the file's bytes, a PIL image, or a
numpy uint8 array (H×W gray, H×W×1, H×W×3 RGB or H×W×4 RGBA). Arrays are written as PNG by a
small encoder here (lossless, so the server decodes exactly the array's pixels), so numpy
inputs need neither Pillow nor any other imaging library.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any, Tuple, Union

ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (gray, RGB, RGBA)


def to_file(image: ImageInput, index: int) -> Tuple[str, bytes, str]:
    """(file name, bytes, content type) of one image input; TypeError for anything else."""
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as handle:
            data = handle.read()
        return os.path.basename(os.fspath(image)) or f"image-{index}", data, _content_type(data)
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        return f"image-{index}", data, _content_type(data)
    module = type(image).__module__
    if module.startswith("PIL."):
        return f"image-{index}.png", _pil_png(image), "image/png"
    if module.startswith("numpy"):
        return f"image-{index}.png", encode_png(image), "image/png"
    raise TypeError(
        f"image {index}: expected a path, bytes, a PIL image or a numpy uint8 array, got {type(image).__name__}"
    )


def _content_type(data: bytes) -> str:
    if data.startswith(_PNG_SIGNATURE):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    # The server decides (422 naming the index); the client does not second-guess it.
    return "application/octet-stream"


def _pil_png(image: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_png(array: Any) -> bytes:
    """An 8-bit PNG of a numpy uint8 array (H×W, H×W×1, H×W×3 or H×W×4), unfiltered rows."""
    import numpy as np

    pixels = np.asarray(array)
    if pixels.dtype != np.uint8:
        raise TypeError(f"numpy images must be uint8 (got {pixels.dtype}); scale and cast first")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in _COLOUR_TYPES:
        raise ValueError(f"numpy images must be H×W, H×W×1, H×W×3 or H×W×4 (got shape {pixels.shape})")
    height, width, channels = pixels.shape
    if height < 1 or width < 1:
        raise ValueError(f"numpy image has no pixels (shape {pixels.shape})")
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    # Filter type 0 (none) before each row.
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
