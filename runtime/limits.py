"""Every limit that protects the machine from an input, in one place; the CLIs and the API take their defaults here.

An input over a limit fails alone, with its name and the limit; the other inputs of a batch go on.
"""

from __future__ import annotations

# Pixels per input image, read from the file's header before anything is decoded (a 100 KB PNG can declare
# 30000x30000 pixels). 200 MP covers real scans (a 600 dpi A3 page is 70 MP); the runtime needs a few tens of
# bytes per pixel at full resolution, so this bounds one image to a few GB at most.
DEFAULT_MAX_PIXELS = 200_000_000

# Hints per hint set (a painted PNG yields one per painted pixel); rasterising costs at most the network-size
# grid per set whatever the count, but each hint still takes some 30 bytes while it is read.
MAX_HINTS = 2_000_000

# A JSON hint file is parsed into Python objects (some 400 bytes per hint); 64 MB holds ~1M hints.
MAX_HINT_FILE_BYTES = 64 * 1024 * 1024

# The largest hint radius accepted (a patch is clipped to the image anyway); keeps the value an int32.
MAX_HINT_RADIUS = 1_000_000_000

# msau-train crops: a (batch, 32, crop, crop) activation is allocated per layer; 2048 already needs GBs.
MAX_TRAIN_CROP = 2048

# JPEG quality range OpenCV accepts.
JPEG_QUALITY_RANGE = (0, 100)


def check_max_pixels(max_pixels: int) -> int:
    """max_pixels itself if it is a positive integer; ValueError otherwise (for options and API arguments)."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    return max_pixels


def check_jpeg_quality(quality: int) -> int:
    """quality itself if OpenCV accepts it (0..100); ValueError otherwise."""
    low, high = JPEG_QUALITY_RANGE
    if isinstance(quality, bool) or not isinstance(quality, int) or not low <= quality <= high:
        raise ValueError(f"JPEG quality must be an integer in {low}..{high}, got {quality!r}")
    return quality
