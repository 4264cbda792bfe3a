"""Reading photos of any kind and writing results atomically; errors name the file and the problem.

Reading: EXIF orientation is applied; 8- and 16-bit, gray, gray+alpha, RGB and RGBA files are accepted and
alpha is dropped. Writing: PNG or JPEG, encoded in memory, then a temporary file in the destination folder
renamed over the destination, so that an interrupted run never leaves a half-written image behind.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import cv2
import numpy as np

from msau.runtime.atomic import write_bytes_atomic
from msau.runtime.image_header import ImageHeader, read_header
from msau.runtime.limits import DEFAULT_MAX_PIXELS, check_jpeg_quality, check_max_pixels

# What a folder scan picks up; a file named explicitly is read whatever its suffix.
IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pnm", ".gif",
)
WRITE_FORMATS = {"png": ".png", "jpg": ".jpg"}
DEFAULT_JPEG_QUALITY = 95

# ANYDEPTH keeps 16 bits, ANYCOLOR keeps gray as gray; without IMREAD_UNCHANGED OpenCV applies EXIF orientation.
_READ_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


class ImageError(ValueError):
    """An image that cannot be read or written; the message names the file and what is wrong."""


def check_header(path: str | Path, header: ImageHeader | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise ImageError naming the file if its header declares more than max_pixels pixels or an animation."""
    if header is None:
        return  # a format whose header is not read here: OpenCV's own limit (2^30 pixels) applies
    if header.pixels > max_pixels:
        raise ImageError(
            f"{path}: {header.width}x{header.height} pixels ({header.pixels / 1e6:.0f} MP) is over the limit of "
            f"{max_pixels:,} pixels per image; raise it with --max-pixels (or max_pixels=) if the machine has the memory"
        )
    if header.frames > 1:
        raise ImageError(f"{path}: an animated {header.format} ({header.frames}+ frames); colorize a still image (one frame)")


def check_pixels(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader | None:
    """Read only the header of the image file at path; ImageError naming the file if it declares more than
    max_pixels pixels (a decompression bomb) or is animated. Returns the header (None for a format whose header
    is not read). Nothing is decoded: safe to call on any file before reading it."""
    check_max_pixels(max_pixels)
    path = Path(path)
    try:
        with open(path, "rb") as file:
            if file.seek(0, 2) == 0:
                return None  # empty: reading it says so
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                header = read_header(data)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror or error})") from error
    check_header(path, header, max_pixels)
    return header


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image at path as (H, W) gray or (H, W, 3) RGB, uint8 or uint16, EXIF orientation applied.

    Raises ImageError naming the file if it is missing, unreadable, empty, not a decodable image, animated, or
    declares more than max_pixels pixels in its header (checked before anything is decoded).
    """
    path = Path(path)
    try:
        data = np.fromfile(path, np.uint8)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror or error})") from error
    return decode_image(data, path, max_pixels)


def decode_image(data: bytes | np.ndarray, source: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An encoded image held in memory (bytes or a uint8 array) decoded as read_image reads a file.

    Raises ImageError naming ``source`` if it is empty, not a decodable image, animated, or declares more than
    max_pixels pixels in its header (checked before anything is decoded).
    """
    check_max_pixels(max_pixels)
    if not isinstance(data, np.ndarray):
        data = np.frombuffer(data, np.uint8)
    if data.size == 0:
        raise ImageError(f"{source}: empty file (0 bytes)")
    check_header(source, read_header(memoryview(data)), max_pixels)
    image = cv2.imdecode(data, _READ_FLAGS)
    if image is None or image.size == 0:
        raise ImageError(f"{source}: not a readable image (corrupt, truncated or an unsupported format)")
    try:
        return _normalise(image)
    except ImageError as error:
        raise ImageError(f"{source}: {error}") from None


def _normalise(image: np.ndarray) -> np.ndarray:
    """OpenCV's BGR(A)/gray of any depth -> gray (H, W) or RGB (H, W, 3), uint8 or uint16."""
    if image.dtype not in (np.uint8, np.uint16):
        if not np.issubdtype(image.dtype, np.floating):
            raise ImageError(f"unsupported pixel type {image.dtype}; use 8- or 16-bit images")
        # Float files (TIFF, EXR) hold sRGB in [0, 1] by convention; 16 bits keep their precision.
        check_float_range(image)
        image = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 2:  # gray + alpha
        return np.ascontiguousarray(image[:, :, 0])
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ImageError(f"unsupported image layout {image.shape}")


# Float pixels a little over 1 are rounding (a resampled [0, 1] image); far over it, another scale (0-255).
_FLOAT_TOLERANCE = 1.01


def check_float_range(image: np.ndarray) -> None:
    """Raise ImageError if a float image is not in [0, 1] (an image in 0-255 would silently come out white)."""
    high = float(np.nanmax(image)) if image.size else 0.0
    if high > _FLOAT_TOLERANCE:
        raise ImageError(f"float pixels must be in 0..1, found values up to {high:g}; divide by 255 (or 65535) first")


def is_colour(image: np.ndarray) -> bool:
    """True if an (H, W, 3) image has any pixel whose channels differ (a gray photo saved as RGB is not colour)."""
    if image.ndim != 3:
        return False
    return bool(np.any(image[:, :, 0] != image[:, :, 1]) or np.any(image[:, :, 1] != image[:, :, 2]))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An 8-bit copy of a uint8/uint16 image (16-bit values rounded to the nearest 8-bit level)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    raise TypeError(f"expected a uint8 or uint16 image, got {image.dtype}")


def encode_image(rgb: np.ndarray, suffix: str, jpeg_quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """PNG or JPEG bytes of an RGB (H, W, 3) or gray (H, W) uint8/uint16 image."""
    suffix = suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise ImageError(f"cannot write {suffix!r} images; use .png or .jpg")
    if suffix != ".png":
        rgb = to_uint8(rgb)  # JPEG is 8-bit only
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    params = [cv2.IMWRITE_JPEG_QUALITY, check_jpeg_quality(jpeg_quality)] if suffix != ".png" else []
    ok, buffer = cv2.imencode(suffix, pixels, params)
    if not ok:
        raise ImageError(f"OpenCV could not encode a {rgb.shape} {rgb.dtype} image as {suffix}")
    return buffer.tobytes()


def write_image(path: str | Path, rgb: np.ndarray, jpeg_quality: int = DEFAULT_JPEG_QUALITY) -> Path:
    """Write an RGB or gray image as PNG/JPEG (by path's suffix) atomically: temp file in the folder, then rename."""
    path = Path(path)
    data = encode_image(rgb, path.suffix, jpeg_quality)
    write_bytes_atomic(path, data)
    return path
