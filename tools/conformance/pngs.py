"""Small PNG files written with zlib alone (no imaging library): what the conformance hooks and
the generated-client check send as images."""
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, colour: bool, pixels: bytes) -> bytes:
    channels = 3 if colour else 1
    row = width * channels
    raw = b"".join(b"\x00" + pixels[(y * row) % len(pixels):][:row].ljust(row, b"\x80") for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if colour else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
