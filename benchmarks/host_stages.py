"""The runtime's own CPU work per image, around the backend: what msau-run and Colorizer add to its latency.

Per size, on a generated size x size photo with 0.5 % hints: encode (L*, hints -> contract input), the hint
correction and propagation (msau.runtime.refine.refine_with_hints, a fixed amount of work per network-size image
and hint density) and decode (ab enlarged to the
photo, joined with its L*, to sRGB uint8). Each stage is timed over `runs` calls after one warm-up call; the
figures are medians in ms. msau-run overlaps this work with inference in its reader and writer threads, so it
adds to single-image latency and to CPU load, not to a batch's inference time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from msau.runtime.encoding import decode, encode
from msau.runtime.hints import sample_hints
from msau.runtime.refine import refine_with_hints

DEFAULT_RUNS = 10
HINT_RATIO = 0.005


def _photo(size: int, seed: int) -> np.ndarray:
    """A smooth colourful RGB uint8 photo (size, size, 3) with some edges."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size] / size
    planes = [np.sin(2 * np.pi * (f * xs + g * ys) + p) for f, g, p in rng.uniform(0.5, 3.0, (3, 3))]
    photo = (np.stack(planes, axis=-1) * 0.5 + 0.5) * 255
    photo[size // 3 :, size // 3 :] *= 0.5  # a dark block: an edge for the propagation to respect
    return photo.astype(np.uint8)


def _median_ms(call: Callable[[], object], runs: int, clock: Callable[[], float]) -> float:
    call()  # warm-up: first-touch allocations and lazy imports
    samples = []
    for _ in range(runs):
        start = clock()
        call()
        samples.append(clock() - start)
    return float(np.median(samples) * 1000.0)


def measure_host_stages(
    sizes: Sequence[int], runs: int = DEFAULT_RUNS, seed: int = 0, clock: Callable[[], float] = time.perf_counter
) -> list[dict]:
    """[{"size", "encode_ms", "propagate_ms", "decode_ms", "total_ms"}] per size (medians, ms per image)."""
    stages = []
    for size in sizes:
        photo = _photo(size, seed)
        hints = sample_hints(photo, HINT_RATIO, seed)
        x, lightness = encode(photo, hints, (size, size))
        ab = np.random.default_rng(seed).normal(0.0, 0.1, (2, size, size)).astype(np.float32)
        entry = {
            "size": size,
            "encode_ms": _median_ms(lambda: encode(photo, hints, (size, size)), runs, clock),
            "propagate_ms": _median_ms(lambda: refine_with_hints(ab, x), runs, clock),
            "decode_ms": _median_ms(lambda: decode(ab, lightness, "bicubic"), runs, clock),
        }
        entry["total_ms"] = entry["encode_ms"] + entry["propagate_ms"] + entry["decode_ms"]
        stages.append(entry)
    return stages
