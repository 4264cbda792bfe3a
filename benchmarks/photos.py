"""The generated photo every benchmark times the runtime on: no photo files ship for benchmarks, and one generator
keeps the runtime-work figures (msau-bench latency) and the pipeline's (msau-bench pipeline) on the same input."""

from __future__ import annotations

import numpy as np


def synthetic_photo(size: int, seed: int) -> np.ndarray:
    """A colourful RGB uint8 photo (size, size, 3): smooth gradients, a few flat shapes with sharp edges, and
    sensor-like noise, so that its files cost about what a real photo's cost to decode (a noiseless gradient
    compresses, and decodes, far faster than a photo)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / max(size, 1)
    planes = [np.sin(2 * np.pi * (f * xs + g * ys) + p) for f, g, p in rng.uniform(0.3, 2.5, (3, 3))]
    photo = np.stack(planes, axis=-1) * 0.35 + 0.5
    for _ in range(6):  # discs and rectangles of flat colour: edges for the propagation and the encoder
        cy, cx = rng.uniform(0, size, 2)
        radius = rng.uniform(0.05, 0.25) * size
        colour = rng.uniform(0.05, 0.95, 3).astype(np.float32)
        if rng.uniform() < 0.5:
            inside = (ys * size - cy) ** 2 + (xs * size - cx) ** 2 < radius**2
        else:
            inside = (np.abs(ys * size - cy) < radius) & (np.abs(xs * size - cx) < radius * 1.5)
        photo[inside] = colour
    photo += rng.normal(0.0, 0.015, photo.shape).astype(np.float32)
    return (np.clip(photo, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
