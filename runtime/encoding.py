"""Photo + hints -> network input, network output + photo -> colour image. Shared by training and serving."""

from __future__ import annotations

import cv2
import numpy as np

from msau.runtime.color import image_lightness, join_lab_to_rgb_uint8
from msau.runtime.contract import AB_LIMIT, AB_SCALE, INPUT_CHANNELS, L_SCALE, check_size
from msau.runtime.gray_formula import LumaWeights, luma_lightness
from msau.runtime.hints import Hints, rasterize
from msau.runtime.refine import refine_with_hints


# How the network's ab is enlarged to the photo's size. Measured on the five validation photos (ab of the
# photo area-reduced to 256x256, enlarged back, joined with the photo's L): bilinear 43.3 dB, bicubic 45.3 dB;
# an L-guided filter (He et al.) scored lower (40.5 dB at best), as chroma is not locally linear in L.
UPSAMPLING = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
# What users are served (msau-run, Colorizer, the studio) and so what every quality gate measures.
DEFAULT_UPSAMPLING = "bicubic"


def resize(
    plane: np.ndarray, height: int, width: int, upsampling: str = "bilinear", out: np.ndarray | None = None
) -> np.ndarray:
    """Area-averaged when shrinking (no aliasing), bilinear (or bicubic) when enlarging; (H, W) or (H, W, C).
    out: a C-contiguous array of the result's shape and dtype to write into (a full-resolution plane is then
    never allocated twice)."""
    if plane.shape[:2] == (height, width):
        if out is None:
            return plane
        out[...] = plane
        return out
    shrinking = height * width < plane.shape[0] * plane.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else UPSAMPLING[upsampling]
    return cv2.resize(plane, (width, height), dst=out, interpolation=interpolation)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The image rescaled so its shorter side is ``size``, then cut to size x size at the centre."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    image = resize(image, max(size, round(height * scale)), max(size, round(width * scale)))
    top = (image.shape[0] - size) // 2
    left = (image.shape[1] - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def encode_lightness(lightness: np.ndarray, hints: Hints | None, size: tuple[int, int]) -> np.ndarray:
    """Contract input (4, h, w) float32 from full-resolution L* (H, W) and hints in its pixels."""
    check_size(*size)
    x = np.empty((INPUT_CHANNELS, size[0], size[1]), np.float32)
    x[0] = resize(lightness, size[0], size[1]) / L_SCALE
    x[1:] = rasterize(hints if hints is not None else Hints.empty(), lightness.shape, size)
    return x


def encode(image: np.ndarray, hints: Hints | None, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(contract input (4, h, w), full-resolution L* (H, W)) of a gray/RGB/RGBA image and its hints."""
    lightness = image_lightness(image)
    return encode_lightness(lightness, hints, size), lightness


def decode(
    ab: np.ndarray, lightness: np.ndarray, upsampling: str = DEFAULT_UPSAMPLING, luma: LumaWeights | None = None
) -> np.ndarray:
    """sRGB uint8 (H, W, 3): network output ab (2, h, w), clipped to +-AB_LIMIT, upsampled to L*'s size and
    joined with it; with luma weights, joined instead with the L* that keeps a luma-made gray photo's gray under them."""
    height, width = lightness.shape
    # Scaled to a*b* units on the small grid, where it is cheap: the resize is linear, so it commutes.
    planes = np.clip(ab, -AB_LIMIT, AB_LIMIT).astype(np.float32, copy=False) * np.float32(AB_SCALE)  # (2, h, w)
    ab_full = np.empty((2, height, width), np.float32)  # each plane enlarged in place: no second full-size copy
    for plane, full in zip(planes, ab_full):
        resize(plane, height, width, upsampling, out=full)
    lightness = np.asarray(lightness, np.float32)
    if luma is not None:
        lightness = luma_lightness(lightness, ab_full, luma)
    return join_lab_to_rgb_uint8(lightness, ab_full)


def finish(
    ab: np.ndarray,
    x: np.ndarray,
    lightness: np.ndarray,
    upsampling: str = DEFAULT_UPSAMPLING,
    refine: bool = True,
    luma: LumaWeights | None = None,
) -> np.ndarray:
    """The colour photo (H, W, 3) uint8 from the network's ab (2, h, w), the input x (4, h, w) it was given and
    the photo's full-resolution L* (H, W): ab with the hints propagated into it (unless refine is False), then
    decoded (keeping a luma-made gray photo's gray under the luma weights, if given: msau.runtime.gray_formula)."""
    ab = np.clip(ab, -AB_LIMIT, AB_LIMIT)  # before the propagation, so that an overshoot does not spread
    return decode(refine_with_hints(ab, x) if refine else ab, lightness, upsampling, luma)
