"""A PNG contact sheet of a few quality results: one row per photo; columns gray input, hints, the result of
each configuration, ground truth. Drawn with OpenCV (no matplotlib needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from msau.runtime.atomic import write_bytes_atomic
from msau.runtime.color import image_lightness
from msau.runtime.hints import Hints

LABEL_HEIGHT = 22
GAP = 4
BACKGROUND = 255


def gray_tile(rgb: np.ndarray) -> np.ndarray:
    """The gray input the network sees (L* as the gray (v, v, v) of that lightness), as RGB uint8."""
    from msau.runtime.color import lab_to_rgb_uint8

    lab = np.zeros(rgb.shape, np.float32)
    lab[..., 0] = image_lightness(rgb)
    return lab_to_rgb_uint8(lab)


def hints_tile(rgb: np.ndarray, hints: Hints) -> np.ndarray:
    """The gray input with each hint drawn as a dot of its colour, ringed in black and white to stand out."""
    tile = gray_tile(rgb)
    radius = max(2, rgb.shape[0] // 96)
    for (x, y), colour in zip(hints.xy.astype(int).tolist(), hints.rgb.tolist()):
        cv2.circle(tile, (x, y), radius + 1, (0, 0, 0), -1)
        cv2.circle(tile, (x, y), radius, tuple(int(c) for c in colour), -1)
    return tile


def _label(text: str, width: int) -> np.ndarray:
    band = np.full((LABEL_HEIGHT, width, 3), BACKGROUND, np.uint8)
    scale = 0.42
    while scale > 0.25 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width - 4:
        scale -= 0.02
    cv2.putText(band, text, (2, LABEL_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def contact_sheet(
    truths: Sequence[np.ndarray], hints: Sequence[Hints], results: dict[str, Sequence[np.ndarray]], ratio: float
) -> np.ndarray:
    """The sheet as RGB uint8: rows = photos, columns = gray, hints, one per results key, ground truth."""
    if not truths:
        raise ValueError("a contact sheet needs at least one photo")
    size = truths[0].shape[0]
    titles = ["gray input", f"hints {ratio * 100:g}%"] + list(results) + ["ground truth"]
    rows = []
    for i, truth in enumerate(truths):
        tiles = [gray_tile(truth), hints_tile(truth, hints[i])] + [results[k][i] for k in results] + [truth]
        rows.append(tiles)
    columns = len(titles)
    width = columns * size + (columns - 1) * GAP
    sheet = np.full((LABEL_HEIGHT + len(rows) * (size + GAP), width, 3), BACKGROUND, np.uint8)
    for c, title in enumerate(titles):
        sheet[:LABEL_HEIGHT, c * (size + GAP) : c * (size + GAP) + size] = _label(title, size)
    for r, tiles in enumerate(rows):
        top = LABEL_HEIGHT + r * (size + GAP)
        for c, tile in enumerate(tiles):
            sheet[top : top + size, c * (size + GAP) : c * (size + GAP) + size] = tile
    return sheet


def write_contact_sheet(path: str | Path, sheet: np.ndarray) -> Path:
    """Write the sheet as PNG, atomically."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: could not encode the contact sheet as PNG")
    return write_bytes_atomic(path, data.tobytes())
