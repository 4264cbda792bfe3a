"""sRGB <-> CIE Lab (D65, 2 degree observer), vectorised, as skimage.color.rgb2lab / lab2rgb define it.

Every function takes arrays of shape (..., 3) and works in float32: the error against skimage's float64
is far below one uint8 step. Integer inputs (uint8, uint16) are linearised through a lookup table.

A full-resolution photo is converted in bands of BAND_PIXELS pixels: a 6000x4000 photo converted at once
would hold several float32 copies of itself (288 MB each); a band holds about 12 MB. Lab -> sRGB runs in
OpenCV (SIMD, all cores; about 8x numpy's speed), which follows the same formulas as skimage except that it
does not clip f(Z) at 0; lab_to_rgb clips b* where skimage would, so both agree within 7e-4 (OpenCV's gamma
table), a fifth of one uint8 step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from msau.runtime.compiled import compiled

# skimage.color.colorconv.xyz_from_rgb (sRGB primaries, D65)
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
D65_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)

_EPSILON = 0.008856  # (6/29)^3 rounded as skimage rounds it
_KAPPA = 7.787
BAND_PIXELS = 1 << 20  # pixels converted at a time (a 1024 x 1024 block): bounds the float32 temporaries

# Folding the white point into the matrix saves one pass over the image.
_XYZN_FROM_RGB = (XYZ_FROM_RGB / D65_WHITE[:, None]).astype(np.float32)


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)


@functools.lru_cache(maxsize=2)
def _linear_lut(bits: int) -> np.ndarray:
    levels = 2**bits
    return _srgb_to_linear(np.arange(levels, dtype=np.float64) / (levels - 1)).astype(np.float32)


def to_linear_rgb(rgb: np.ndarray) -> np.ndarray:
    """Linear-light RGB in float32 from uint8, uint16 or float sRGB in [0, 1]; shape (..., 3)."""
    if rgb.dtype == np.uint8:
        return _linear_lut(8)[rgb]
    if rgb.dtype == np.uint16:
        return _linear_lut(16)[rgb]
    if np.issubdtype(rgb.dtype, np.floating):
        return _srgb_to_linear(rgb.astype(np.float32))
    raise TypeError(f"unsupported image dtype {rgb.dtype}: use uint8, uint16 or float in [0, 1]")


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPSILON, np.cbrt(t), _KAPPA * t + 16.0 / 116.0)


def _transform(pixels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(..., k) float32: every pixel (..., 3) times the float32 matrix (k, 3), in OpenCV. numpy's @ hands
    products of a photo's size to OpenBLAS's threads, which then spin beside the network and slow it
    (msau.runtime.hint_transfer); cv2.transform is as fast and keeps to OpenCV's own threads."""
    if pixels.size == 0:
        return np.zeros(pixels.shape[:-1] + (matrix.shape[0],), np.float32)
    flat = np.ascontiguousarray(pixels, np.float32).reshape(-1, 1, 3)
    return cv2.transform(flat, matrix).reshape(pixels.shape[:-1] + (matrix.shape[0],))


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (L in 0..100) of sRGB pixels; (..., 3) uint8, uint16 or float in [0, 1] -> (..., 3) float32."""
    xyz = _transform(to_linear_rgb(rgb), _XYZN_FROM_RGB)
    f = _f(xyz)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def _bands(pixels: int) -> Iterator[slice]:
    """Consecutive slices of at most BAND_PIXELS over a flat run of pixels."""
    for start in range(0, pixels, BAND_PIXELS):
        yield slice(start, min(start + BAND_PIXELS, pixels))


def _block(flat: np.ndarray) -> np.ndarray:
    """A flat band of pixels (n, c) as an image OpenCV can split over its threads: (n / 1024, 1024, c) when
    it divides, else one row (1, n, c)."""
    columns = 1024 if flat.shape[0] % 1024 == 0 else flat.shape[0]
    return flat.reshape(flat.shape[0] // columns, columns, flat.shape[1])


@functools.lru_cache(maxsize=2)
def _y_luts(bits: int) -> np.ndarray:
    """(3, levels) float32: each channel level's share of the luminance Y (white = 1), for gathers."""
    return (_linear_lut(bits)[None, :] * _XYZN_FROM_RGB[1][:, None]).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _lightness_lut(bits: int) -> np.ndarray:
    """(levels,) float32 L* of each gray level (v, v, v): a gray photo's L* is one gather."""
    return (116.0 * _f(_linear_lut(bits).astype(np.float64)) - 16.0).astype(np.float32)


@compiled
def _luminance(pixels: np.ndarray, luts: np.ndarray) -> np.ndarray:
    """Y (n,) float32 of integer sRGB pixels (n, 3 or 4): the sum of three table gathers, in one pass (numpy's
    three gathers over strided columns took 0.8 ms at 256x256, four times as long)."""
    y = np.empty(pixels.shape[0], np.float32)
    for i in range(pixels.shape[0]):
        y[i] = luts[0, pixels[i, 0]] + luts[1, pixels[i, 1]] + luts[2, pixels[i, 2]]
    return y


def _lightness_of_y(y: np.ndarray) -> np.ndarray:
    """L* of luminance Y (white = 1), in place where y is float32."""
    return (116.0 * _f(y) - 16.0).astype(np.float32, copy=False)


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* alone of sRGB pixels, (..., 3) (or RGBA, alpha ignored) -> (...), float32; cheaper than the full
    conversion."""
    flat = rgb.reshape(-1, rgb.shape[-1])  # (pixels, 3 or 4), a view of a contiguous image
    out = np.empty(flat.shape[0], np.float32)
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(rgb.dtype)
    for band in _bands(flat.shape[0]):
        if bits is not None:  # Y as three table gathers: no float copy of the photo
            y = _luminance(flat[band], _y_luts(bits))
        else:
            y = _transform(to_linear_rgb(flat[band, :3]), _XYZN_FROM_RGB[1:2])[:, 0]
        out[band] = _lightness_of_y(y)
    return out.reshape(rgb.shape[:-1])


def gray_lightness(gray: np.ndarray) -> np.ndarray:
    """CIE L* of a gray image (H, W), read as the colour (v, v, v); any supported dtype."""
    if gray.dtype == np.uint8:
        return _lightness_lut(8)[gray]
    if gray.dtype == np.uint16:
        return _lightness_lut(16)[gray]
    # The Y row of XYZ_FROM_RGB sums to 1, so Y of (v, v, v) is the linearised v itself.
    return _lightness_of_y(to_linear_rgb(gray))


def _clip_b_as_skimage(lightness: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """b* clipped where skimage clips f(Z) = f(Y) - b*/200 at 0 (the yellowest colours), before OpenCV's Lab ->
    RGB, which does not."""
    return np.minimum(b, (lightness + np.float32(16.0)) * np.float32(200.0 / 116.0), out=out)


def _rgb_bands(pixels: int, lab_of: Callable[[slice], np.ndarray]) -> Iterator[tuple[slice, np.ndarray]]:
    """(slice of the flat pixels, sRGB float32 in [0, 1] (n, 3)) band by band; lab_of(band) gives a fresh
    float32 Lab band (n, 3), which is converted in place."""
    for band in _bands(pixels):
        lab = lab_of(band)
        _clip_b_as_skimage(lab[:, 0], lab[:, 2], out=lab[:, 2])
        block = _block(lab)
        yield band, cv2.cvtColor(block, cv2.COLOR_Lab2RGB, dst=block).reshape(-1, 3)  # clipped to [0, 1]


def _whole(lab: np.ndarray) -> Callable[[slice], np.ndarray]:
    """lab_of for Lab pixels (..., 3)."""
    flat = lab.reshape(-1, 3)
    return lambda band: flat[band].astype(np.float32)  # a copy: the caller's array is left alone


def _to_uint8(bands: Iterator[tuple[slice, np.ndarray]], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape + (3,), np.uint8)
    flat = out.reshape(-1, 3)
    for band, rgb in bands:
        flat[band] = cv2.convertScaleAbs(_block(rgb), alpha=255.0).reshape(-1, 3)  # rounds and saturates
    return out


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (float32, clipped) of CIE Lab pixels, (..., 3)."""
    out = np.empty(lab.shape, np.float32)
    flat = out.reshape(-1, 3)
    for band, rgb in _rgb_bands(flat.shape[0], _whole(lab)):
        flat[band] = rgb
    return out


def lab_to_rgb_uint8(lab: np.ndarray) -> np.ndarray:
    """sRGB uint8 of CIE Lab pixels, rounded, (..., 3)."""
    return _to_uint8(_rgb_bands(lab.size // 3, _whole(lab)), lab.shape[:-1])


def join_lab_to_rgb_uint8(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """sRGB uint8 (H, W, 3), rounded, of L* (H, W) and a*b* planes (2, H, W) given apart, never as one full-size
    Lab array: bands of rows are merged (OpenCV), converted and rounded in turn. Planes, as the network and the
    propagation give them: interleaving a*b* (H, W, 2) into Lab pixels one band at a time cost a quarter of the
    conversion's time at 256x256."""
    height, width = lightness.shape
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        band = slice(top, min(top + rows, height))
        band_lightness = lightness[band]
        b = _clip_b_as_skimage(band_lightness, ab[1, band])
        lab = cv2.merge([band_lightness, ab[0, band], b])  # (rows, W, 3) float32
        cv2.cvtColor(lab, cv2.COLOR_Lab2RGB, dst=lab)  # clipped to [0, 1]
        out[band] = cv2.convertScaleAbs(lab, alpha=255.0)  # rounds and saturates
    return out


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) view of a gray (H, W) / (H, W, 1), RGB or RGBA image; alpha is dropped, dtype kept."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[:, :, :3]
    raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}")


def image_lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* (H, W) float32 of a gray, RGB or RGBA image (uint8, uint16 or float in [0, 1])."""
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return gray_lightness(image.reshape(image.shape[:2]))
    as_rgb(image)  # checks the shape
    return lightness(image)  # RGBA as it is: a view of its first three channels would have to be copied
