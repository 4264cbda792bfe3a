"""sRGB <-> CIE Lab (D65, 2 degree observer), vectorised, as skimage.color.rgb2lab / lab2rgb define it.

Every function takes arrays of shape (..., 3) and works in float32: the error against skimage's float64
is far below one uint8 step. Integer inputs (uint8, uint16) are linearised through a lookup table.
"""

from __future__ import annotations

import functools

import numpy as np

# skimage.color.colorconv.xyz_from_rgb (sRGB primaries, D65)
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)

_EPSILON = 0.008856  # (6/29)^3 rounded as skimage rounds it
_KAPPA = 7.787
_INV_EPSILON = 0.2068966  # (6/29)

# Folding the white point into the matrices saves one pass over the image.
_XYZN_FROM_RGB = (XYZ_FROM_RGB / D65_WHITE[:, None]).astype(np.float32)
_RGB_FROM_XYZN = (RGB_FROM_XYZ * D65_WHITE[None, :]).astype(np.float32)


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.maximum(c, 0)
    return np.where(c > 0.0031308, 1.055 * np.power(c, 1 / 2.4) - 0.055, 12.92 * c)


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


def _f_inv(t: np.ndarray) -> np.ndarray:
    return np.where(t > _INV_EPSILON, t**3, (t - 16.0 / 116.0) / _KAPPA)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (L in 0..100) of sRGB pixels; (..., 3) uint8, uint16 or float in [0, 1] -> (..., 3) float32."""
    xyz = to_linear_rgb(rgb) @ _XYZN_FROM_RGB.T
    f = _f(xyz)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* alone of sRGB pixels, (..., 3) -> (...), float32; cheaper than the full conversion."""
    y = to_linear_rgb(rgb) @ _XYZN_FROM_RGB[1]
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def gray_lightness(gray: np.ndarray) -> np.ndarray:
    """CIE L* of a gray image (H, W), read as the colour (v, v, v); any supported dtype."""
    # The Y row of XYZ_FROM_RGB sums to 1, so Y of (v, v, v) is the linearised v itself.
    return (116.0 * _f(to_linear_rgb(gray)) - 16.0).astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (float32, clipped) of CIE Lab pixels, (..., 3)."""
    lab = lab.astype(np.float32, copy=False)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = np.maximum(fy - lab[..., 2] / 200.0, 0.0)  # skimage clips negative Z the same way
    xyz = _f_inv(np.stack([fx, fy, fz], axis=-1))
    rgb = _linear_to_srgb(xyz @ _RGB_FROM_XYZN.T)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32, copy=False)


def lab_to_rgb_uint8(lab: np.ndarray) -> np.ndarray:
    """sRGB uint8 of CIE Lab pixels, rounded, (..., 3)."""
    return (lab_to_rgb(lab) * 255.0 + 0.5).astype(np.uint8)


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
    return lightness(as_rgb(image))
