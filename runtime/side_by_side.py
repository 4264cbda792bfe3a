"""The comparison picture msau-run --side-by-side writes: gray | hints over gray | result | original.

The gray panel is the photo's own L* shown as neutral gray (what the network sees); the original panel is
shown when the input was a colour photo or a colour reference was given.
"""

from __future__ import annotations

import cv2
import numpy as np

from msau.runtime.color import lab_to_rgb_uint8
from msau.runtime.encoding import resize
from msau.runtime.hints import Hints
from msau.runtime.image_io import is_colour, to_uint8

GAP = 4  # white pixels between panels
MAX_DRAWN_HINTS = 5000  # beyond this (a painted PNG), hints are shown as painted pixels, not markers


def gray_panel(lightness: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) neutral gray of L* (H, W)."""
    lab = np.zeros(lightness.shape + (3,), np.float32)
    lab[..., 0] = lightness
    return lab_to_rgb_uint8(lab)


def draw_hints(panel: np.ndarray, hints: Hints) -> np.ndarray:
    """A copy of an RGB panel with each hint drawn as a dot of its colour, outlined for contrast."""
    out = panel.copy()
    if len(hints) == 0:
        return out
    xy = np.round(hints.xy).astype(np.int64)
    if len(hints) > MAX_DRAWN_HINTS:
        out[xy[:, 1], xy[:, 0]] = hints.rgb
        return out
    height, width = panel.shape[:2]
    dot = max(2, round(min(height, width) / 160))
    for (x, y), rgb, radius in zip(xy.tolist(), hints.rgb.tolist(), hints.radius.tolist()):
        size = dot + int(radius)
        cv2.circle(out, (x, y), size + 1, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.circle(out, (x, y), size, tuple(int(c) for c in rgb), -1, cv2.LINE_AA)
    return out


def side_by_side(
    image: np.ndarray,
    lightness: np.ndarray,
    hints: Hints,
    result: np.ndarray,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """gray | hints over gray | result (| original) as one RGB uint8 picture, panels at the input's size."""
    height, width = result.shape[:2]
    gray = gray_panel(lightness)
    panels = [gray, draw_hints(gray, hints), result]
    original = reference if reference is not None else (image if image is not None and is_colour(image) else None)
    if original is not None:
        original = to_uint8(original)
        if original.ndim == 2:
            original = np.repeat(original[:, :, None], 3, axis=2)
        panels.append(resize(original, height, width))
    gap = np.full((height, GAP, 3), 255, np.uint8)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [gap, panel]
    return np.concatenate(row, axis=1)
