"""Hint-residual correction: make the network's colours agree with the user's hints near each hint.

The network sees the hints but, being small, does not reproduce them exactly. The residual (hint ab minus
predicted ab) at hinted pixels is spread to their neighbourhood by normalised Gaussian convolution and added
back; far from any hint the prediction is left as it is. The spread follows the hint density: sigma is half
the mean spacing between hints. Runs on the network-size ab, in numpy/OpenCV, for every backend alike.
"""

from __future__ import annotations

import cv2
import numpy as np

from msau.runtime.contract import CHANNEL_A_HINT, CHANNEL_B_HINT, CHANNEL_MASK

# Where the Gaussian mass of hints around a pixel falls below this fraction of the image's hint density (the
# mass a pixel would see if hints were spread evenly), the correction fades out: far from hints, trust the network.
CONFIDENCE = 0.1
SPREAD = 0.5  # sigma as a fraction of the mean spacing between hints


def hint_sigma(mask: np.ndarray, spread: float = SPREAD) -> float:
    """spread x the mean spacing between hinted pixels of a (h, w) mask, in pixels (0 without hints)."""
    count = float(mask.sum())
    return 0.0 if count == 0 else spread * float(np.sqrt(mask.size / count))


def refine_with_hints(
    ab: np.ndarray, x: np.ndarray, strength: float = 1.0, spread: float = SPREAD, confidence: float = CONFIDENCE
) -> np.ndarray:
    """ab (2, h, w) corrected towards the hints of the contract input x (4, h, w); unchanged without hints."""
    mask = np.ascontiguousarray(x[CHANNEL_MASK], dtype=np.float32)
    sigma = hint_sigma(mask, spread)
    if sigma == 0.0 or strength == 0.0:
        return ab
    kernel = 2 * int(np.ceil(3 * sigma)) + 1
    blur = lambda plane: cv2.GaussianBlur(plane, (kernel, kernel), sigma, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mass = blur(mask)
    density = float(mask.mean())
    weight = strength / (mass + confidence * density)  # normalisation x fade-out where hints are far
    refined = np.empty_like(ab)
    for out, hint_channel, predicted in zip(refined, (CHANNEL_A_HINT, CHANNEL_B_HINT), ab):
        residual = (x[hint_channel] - predicted) * mask
        out[...] = predicted + blur(np.ascontiguousarray(residual)) * weight
    return refined
