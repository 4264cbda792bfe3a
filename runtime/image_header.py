"""An image's size read from its header, without decoding a pixel: the guard against decompression bombs.

A 100 KB PNG can declare 30000x30000 pixels, and OpenCV allocates them (24 GB through the pipeline) before it
finds out whether the data holds them. The formats OpenCV reads in practice are recognised by their magic
bytes, whatever the file's suffix: PNG, JPEG, GIF, BMP, WebP, TIFF (and BigTIFF; the first page, the one
OpenCV decodes), PNM/PFM and JPEG 2000. Anything else gives None (its size is unknown until decoded).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

# Bytes searched for a JPEG 2000 header box or a PNM header; both sit at the start of the file.
_JP2_HEADER_SEARCH = 4096
_PNM_HEADER_BYTES = 1024
_MAX_TIFF_ENTRIES = 4096
# JPEG markers with the frame size (start of frame); C4, C8 and CC are other segments with the same high nibble.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class ImageHeader:
    """What a header says: format name, width and height in pixels, and frames (more than 1: an animation)."""

    format: str
    width: int
    height: int
    frames: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes | memoryview) -> ImageHeader | None:
    """The header of an encoded image held in data (a bytes-like object: bytes, memoryview or mmap); None when
    the format is not recognised or the header is cut short."""
    try:
        for reader in (_png, _jpeg, _gif, _bmp, _webp, _tiff, _pnm, _jpeg2000):
            header = reader(data)
            if header is not None:
                return header
    except (struct.error, IndexError, ValueError):
        return None  # a truncated header: decoding will say the file is broken
    return None


def _bytes(data, offset: int, count: int) -> bytes:
    chunk = bytes(data[offset : offset + count])
    if len(chunk) != count:
        raise IndexError("header cut short")
    return chunk


def _png(data) -> ImageHeader | None:
    if len(data) < 24 or _bytes(data, 0, 8) != b"\x89PNG\r\n\x1a\n" or _bytes(data, 12, 4) != b"IHDR":
        return None
    width, height = struct.unpack(">II", _bytes(data, 16, 8))
    return ImageHeader("PNG", width, height)


def _jpeg(data) -> ImageHeader | None:
    if len(data) < 4 or _bytes(data, 0, 2) != b"\xff\xd8":
        return None
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            offset += 2
            continue
        (length,) = struct.unpack(">H", _bytes(data, offset + 2, 2))
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", _bytes(data, offset + 5, 4))
            return ImageHeader("JPEG", width, height)
        if marker == 0xDA or length < 2:  # start of scan before any frame header: not a JPEG we can size
            return None
        offset += 2 + length
    return None


def _gif(data) -> ImageHeader | None:
    if len(data) < 13 or _bytes(data, 0, 6) not in (b"GIF87a", b"GIF89a"):
        return None
    width, height, flags = struct.unpack("<HHB", _bytes(data, 6, 5))
    return ImageHeader("GIF", width, height, _gif_frames(data, flags))


def _gif_frames(data, flags: int, stop_at: int = 2) -> int:
    """Image descriptors in a GIF, counted up to stop_at (2 is enough to tell an animation)."""
    offset = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while offset < len(data) and frames < stop_at:
        block = data[offset]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            offset = _skip_sub_blocks(data, offset + 2)
        elif block == 0x2C:  # image descriptor, optional local colour table, LZW code size, sub-blocks
            frames += 1
            packed = data[offset + 9]
            offset += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
            offset = _skip_sub_blocks(data, offset + 1)
        else:
            break
    return max(frames, 1)


def _skip_sub_blocks(data, offset: int) -> int:
    while offset < len(data) and data[offset]:
        offset += data[offset] + 1
    return offset + 1


def _bmp(data) -> ImageHeader | None:
    if len(data) < 26 or _bytes(data, 0, 2) != b"BM":
        return None
    (info_size,) = struct.unpack("<I", _bytes(data, 14, 4))
    if info_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", _bytes(data, 18, 4))
    else:
        width, height = struct.unpack("<ii", _bytes(data, 18, 8))
    return ImageHeader("BMP", abs(width), abs(height))  # a negative height means rows stored top-down


def _webp(data) -> ImageHeader | None:
    if len(data) < 30 or _bytes(data, 0, 4) != b"RIFF" or _bytes(data, 8, 4) != b"WEBP":
        return None
    chunk = _bytes(data, 12, 4)
    if chunk == b"VP8X":
        width = int.from_bytes(_bytes(data, 24, 3), "little") + 1
        height = int.from_bytes(_bytes(data, 27, 3), "little") + 1
    elif chunk == b"VP8L":
        (bits,) = struct.unpack("<I", _bytes(data, 21, 4))
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8 ":
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", _bytes(data, 26, 4)))
    else:
        return None
    return ImageHeader("WebP", width, height)


def _tiff(data) -> ImageHeader | None:
    if len(data) < 8:
        return None
    order = {b"II": "<", b"MM": ">"}.get(_bytes(data, 0, 2))
    if order is None:
        return None
    (magic,) = struct.unpack(order + "H", _bytes(data, 2, 2))
    if magic == 42:
        (ifd,) = struct.unpack(order + "I", _bytes(data, 4, 4))
        count_format, entry_size, value_at, value_format = "H", 12, 8, "I"
    elif magic == 43:  # BigTIFF
        (ifd,) = struct.unpack(order + "Q", _bytes(data, 8, 8))
        count_format, entry_size, value_at, value_format = "Q", 20, 12, "Q"
    else:
        return None
    count_size = struct.calcsize(count_format)
    (entries,) = struct.unpack(order + count_format, _bytes(data, ifd, count_size))
    size: dict[int, int] = {}
    for i in range(min(entries, _MAX_TIFF_ENTRIES)):
        entry = ifd + count_size + i * entry_size
        tag, kind = struct.unpack(order + "HH", _bytes(data, entry, 4))
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT, LONG or LONG8, stored in the entry itself
            raw = _bytes(data, entry + value_at, struct.calcsize(value_format))
            value_format_for_kind = {3: "H", 4: "I", 16: "Q"}.get(kind)
            if value_format_for_kind is None:
                return None
            (size[tag],) = struct.unpack_from(order + value_format_for_kind, raw)
    if 256 not in size or 257 not in size:
        return None
    return ImageHeader("TIFF", size[256], size[257])


def _pnm(data) -> ImageHeader | None:
    head = bytes(data[:_PNM_HEADER_BYTES])
    match = re.match(rb"P([1-6fF])((?:\s+|#[^\n]*\n)+)(\d+)((?:\s+|#[^\n]*\n)+)(\d+)", head)
    if match is None:
        return None
    return ImageHeader("PNM", int(match.group(3)), int(match.group(5)))


def _jpeg2000(data) -> ImageHeader | None:
    head = bytes(data[:_JP2_HEADER_SEARCH])
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        at = head.find(b"ihdr")
        if at < 0:
            return None
        height, width = struct.unpack(">II", _bytes(data, at + 4, 8))
        return ImageHeader("JPEG 2000", width, height)
    if head.startswith(b"\xff\x4f\xff\x51"):  # a raw codestream: SIZ marker segment first
        x_size, y_size, x_offset, y_offset = struct.unpack(">IIII", _bytes(data, 8, 16))
        return ImageHeader("JPEG 2000", x_size - x_offset, y_size - y_offset)
    return None
