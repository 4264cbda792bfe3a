"""How a gray photo was made from colour, told by its hints, and output lightness that keeps that gray.

DESIGN.md reads a gray pixel v as the colour (v, v, v), i.e. as CIE lightness: turned back into gray the same way,
the colour photo gives the input again. Most tools make gray otherwise: OpenCV's COLOR_RGB2GRAY and Pillow's
convert("L") take Rec. 601 luma (0.299 R' + 0.587 G' + 0.114 B' of the gamma-encoded channels), scikit-image's
rgb2gray Rec. 709 luma. A luma gray read as lightness puts every saturated colour at the wrong lightness (a pure
blue, of luma 29, gets the L* of the gray (29, 29, 29), 11, instead of its own 32), and the hints themselves come back lighter or
darker than the colours the user gave.

Hints taken from the original colours say which formula made the gray: at each single-pixel hint the gray level
is the formula applied to the hint's colour. ``detect`` keeps the contract's lightness unless a luma formula
explains the gray at the hints clearly better (MAX_ERROR_LEVELS, LUMA_ERROR_SHARE); hints picked by eye (not
taken from a colour original) fit none, and keep the contract. Under a luma formula ``decode`` then
chooses each pixel's L* so that the output, turned gray by that formula, is the input again; the network and
the propagation still see the contract's lightness.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from msau.runtime.color import BAND_PIXELS, _clip_b_as_skimage, gray_lightness, lab_to_rgb, lightness as rgb_lightness
from msau.runtime.hints import Hints
from msau.runtime.image_io import is_colour

LumaWeights = tuple[float, float, float]  # of the gamma-encoded R', G', B'

LIGHTNESS = "lightness"  # the contract: a gray v is the colour (v, v, v)
LUMA_WEIGHTS: dict[str, LumaWeights] = {
    "rec601": (0.299, 0.587, 0.114),
    "rec709": (0.2126, 0.7152, 0.0722),
}
GRAY_FORMULAS = (LIGHTNESS, *LUMA_WEIGHTS)
GRAY_FROM_CHOICES = ("auto", *GRAY_FORMULAS)  # what users may ask for: a formula, or auto (told by the hints)

# A luma formula made the photo's gray when it gives the gray levels at the single-pixel hints to within this many
# 8-bit levels on average (a gray written as integers is off by up to half a level, and JPEG noise adds one or
# two), and at most LUMA_ERROR_SHARE of the contract's own error there. The contract stands wherever it explains
# the gray as well (near-neutral colours give every formula the same gray) and wherever no formula does (hints
# picked by eye: errors of 10 levels and more for every formula).
MAX_ERROR_LEVELS = 3.0
LUMA_ERROR_SHARE = 0.5
MIN_HINTS = 5  # single-pixel hints needed to tell anything
# Steps of the lightness search, each one Lab -> sRGB conversion of the pixels not yet within TOLERANCE of the
# gray (a tenth of an 8-bit level: the output is rounded to whole levels).
LUMA_STEPS = 8
TOLERANCE = 0.1 / 255


def gray_levels(rgb: np.ndarray, formula: str) -> np.ndarray:
    """The gray, in [0, 1], that ``formula`` makes of sRGB uint8 colours (K, 3): (K,) float32."""
    if formula == LIGHTNESS:
        return _level_of_lightness(rgb_lightness(rgb[None])[0])
    return (rgb.astype(np.float32) / 255.0) @ np.asarray(LUMA_WEIGHTS[formula], np.float32)


def detect(lightness: np.ndarray, hints: Hints) -> str:
    """The gray formula that made a gray photo, told by its single-pixel hints; ``lightness`` is the photo's L*
    (H, W) as the contract reads it (a gray level and its L* determine each other). The luma formula that explains
    the gray at the hints clearly better than the contract, else LIGHTNESS."""
    single = hints.radius == 0
    if np.count_nonzero(single) < MIN_HINTS:
        return LIGHTNESS
    x = np.clip(np.rint(hints.xy[single, 0]).astype(np.int64), 0, lightness.shape[1] - 1)
    y = np.clip(np.rint(hints.xy[single, 1]).astype(np.int64), 0, lightness.shape[0] - 1)
    observed = _level_of_lightness(lightness[y, x]) * 255.0  # (K,) in 8-bit levels
    errors = {
        formula: float(np.mean(np.abs(observed - gray_levels(hints.rgb[single], formula) * 255.0)))
        for formula in GRAY_FORMULAS
    }
    best = min(LUMA_WEIGHTS, key=lambda formula: errors[formula])
    if errors[best] <= MAX_ERROR_LEVELS and errors[best] <= LUMA_ERROR_SHARE * errors[LIGHTNESS]:
        return best
    return LIGHTNESS


def resolve(gray_from: str, gray: Callable[[], bool], lightness: np.ndarray, hints: Hints) -> str:
    """The formula to serve a photo with: ``gray_from`` itself, or for "auto" the one its hints tell (``detect``);
    a colour photo (``gray()`` False) always keeps its own lightness. gray is asked only where the answer is a
    luma formula: for a colour photo it is a pass over every pixel."""
    check_choice(gray_from)
    formula = detect(lightness, hints) if gray_from == "auto" else gray_from
    return formula if formula != LIGHTNESS and gray() else LIGHTNESS


def check_choice(gray_from: str) -> None:
    if gray_from not in GRAY_FROM_CHOICES:
        raise ValueError(f"unknown gray formula {gray_from!r}; choose one of {', '.join(GRAY_FROM_CHOICES)}")


def luma_weights(formula: str) -> LumaWeights | None:
    """The weights decode has to keep the luma of for a gray made by ``formula``; None for the contract."""
    return LUMA_WEIGHTS.get(formula)


def is_gray(image: np.ndarray) -> bool:
    """True for a gray image: (H, W), (H, W, 1), or RGB(A) whose three channels are equal everywhere (a gray photo
    saved as RGB)."""
    return image.ndim == 2 or image.shape[2] == 1 or not is_colour(image[:, :, :3])


def luma_lightness(target: np.ndarray, ab: np.ndarray, weights: LumaWeights) -> np.ndarray:
    """L* (H, W) float32 such that (L*, a*, b*) in sRGB has, under the luma ``weights``, the gray whose (v, v, v)
    has L* ``target`` (H, W): the gray photo itself, whose L* by the contract is target. ab: the output's a*b*
    planes (2, H, W). Band by band: temporaries stay a few MB whatever the photo's size."""
    height, width = target.shape
    out = np.empty((height, width), np.float32)
    rows = max(1, BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        band = slice(top, min(top + rows, height))
        out[band] = _secant_lightness(target[band], ab[0, band], ab[1, band], np.asarray(weights, np.float32))
    return out


def _secant_lightness(wanted: np.ndarray, a: np.ndarray, b: np.ndarray, luma_of: np.ndarray) -> np.ndarray:
    """The search of luma_lightness on one band (rows, W). The error is the colour's luma minus the gray's level;
    it grows with L*. The first step moves L* by the L* of that error (a neutral gray's slope); later ones take the
    secant through the last two points, or the middle of the bracket where the secant would leave it (where the
    sRGB gamut clips the colour, its luma stops following L*). Pixels within TOLERANCE stop; the point with
    the smallest error seen is each pixel's answer."""
    shape = wanted.shape
    wanted, a, b = (np.ascontiguousarray(plane, np.float32).reshape(-1) for plane in (wanted, a, b))
    level = _level_of_lightness(wanted)  # (n,) the gray photo's own values in [0, 1]

    def error(lightness: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
        """Luma minus level of (lightness, a, b) at the flat pixels ``at`` (all where None)."""
        a_at, b_at, level_at = (a, b, level) if at is None else (a[at], b[at], level[at])
        lab = np.stack([lightness, a_at, _clip_b_as_skimage(lightness, b_at)], axis=-1)[None]  # (1, k, 3)
        rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)[0]  # (k, 3) in [0, 1]
        return rgb @ luma_of - level_at

    best, best_error = wanted.copy(), error(wanted)
    at = np.flatnonzero(np.abs(best_error) > TOLERANCE)
    previous, previous_error = wanted[at], best_error[at]
    current = np.clip(2 * previous - gray_lightness(np.clip(previous_error + level[at], 0.0, 1.0)), 0.0, 100.0)
    low = np.where(previous_error < 0, previous, np.float32(0.0))
    high = np.where(previous_error > 0, previous, np.float32(100.0))
    for _ in range(LUMA_STEPS - 1):
        if at.size == 0:
            break
        current_error = error(current, at)
        better = np.abs(current_error) < np.abs(best_error[at])
        best[at[better]], best_error[at[better]] = current[better], current_error[better]
        np.copyto(low, current, where=current_error <= 0)
        np.copyto(high, current, where=current_error >= 0)
        step, change = current - previous, current_error - previous_error
        usable = np.abs(change) > 1e-6
        secant = current - current_error * step / np.where(usable, change, 1.0)
        following = np.where(usable & (secant > low) & (secant < high), secant, 0.5 * (low + high))
        going = np.abs(best_error[at]) > TOLERANCE
        at, previous, previous_error = at[going], current[going], current_error[going]
        current, low, high = following[going].astype(np.float32), low[going], high[going]
    return best.reshape(shape)


def _level_of_lightness(lightness: np.ndarray) -> np.ndarray:
    """The gray level v in [0, 1] whose colour (v, v, v) has CIE L* ``lightness``: float32, any shape. It is the
    decode's own Lab -> sRGB (msau.runtime.color) of the neutral colour (L*, 0, 0)."""
    lightness = np.asarray(lightness, np.float32)
    neutral = np.zeros(lightness.shape + (3,), np.float32)  # (..., 3) Lab
    neutral[..., 0] = lightness
    return lab_to_rgb(neutral)[..., 0]
