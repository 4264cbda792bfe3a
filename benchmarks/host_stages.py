"""The runtime's own work per image around the backend, from real Colorizer calls: what a user waits for beyond
the network.

On a generated size x size photo with 0.5 % hints given as a JSON document (as an API caller sends them), calls
of the Colorizer itself (photo in, RGB out: hint parsing, encode, inference, hint correction and propagation,
decode) alternate with calls of its backend alone on the same prepared input (runs rounds, fewer past budget_s
but at least MIN_RUNS); after a warm-up round, the
runtime's work is the median end-to-end time minus the median network time. prepare (hint parsing and encode)
and finish (correction, propagation, decode) are timed as the Colorizer runs them too, for the breakdown. A
synthetic list of stages timed apart would miss what the real call does (conversions, copies, thread pools
woken by the network) and disagree with a profile.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from msau.benchmarks.photos import synthetic_photo
from msau.runtime.hints import sample_hints

DEFAULT_RUNS = 10
MIN_RUNS = 3
WARMUP_RUNS = 1
DEFAULT_BUDGET_S = 3.0  # a slow backend (torch fp32 on a small CPU) stops after MIN_RUNS rounds past this
HINT_RATIO = 0.005


def hints_document(photo: np.ndarray, ratio: float = HINT_RATIO, seed: int = 0) -> dict:
    """Hints sampled from a photo as the JSON document a user sends: {"hints": [{"x", "y", "rgb"}, ...]}."""
    hints = sample_hints(photo, ratio, seed)
    return {
        "hints": [
            {"x": int(x), "y": int(y), "rgb": [int(c) for c in rgb]} for (x, y), rgb in zip(hints.xy, hints.rgb)
        ]
    }


def _median_ms(samples: list[float]) -> float:
    return float(np.median(samples) * 1000.0)


def measure_runtime_work(
    colorizer,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
    budget_s: float = DEFAULT_BUDGET_S,
) -> dict:
    """{"size", "hints", "runs", "end_to_end_ms", "network_ms", "runtime_ms", "prepare_ms", "finish_ms",
    "runtime_share"} for one Colorizer at its own size (medians, ms per image; runtime_share is the runtime's
    work over the network's time)."""
    size = colorizer.size
    photo = synthetic_photo(size, seed)
    document = hints_document(photo, HINT_RATIO, seed)
    prepared = colorizer.prepare(photo, document)
    ab = colorizer.infer([prepared])[0]
    timed = {"end_to_end": [], "network": [], "prepare": [], "finish": []}
    calls = {
        "end_to_end": lambda: colorizer(photo, document),
        "network": lambda: colorizer.infer([prepared]),
        "prepare": lambda: colorizer.prepare(photo, document),
        "finish": lambda: colorizer.finish(ab, prepared),
    }
    began = clock()
    for index in range(WARMUP_RUNS + runs):
        for name, call in calls.items():  # interleaved: a slow moment of the machine hits every figure alike
            start = clock()
            call()
            if index >= WARMUP_RUNS:
                timed[name].append(clock() - start)
        if index + 1 - WARMUP_RUNS >= min(MIN_RUNS, runs) and clock() - began > budget_s:
            break
    runs = len(timed["network"])
    figures = {f"{name}_ms": _median_ms(samples) for name, samples in timed.items()}
    runtime = figures["end_to_end_ms"] - figures["network_ms"]
    return {
        "size": size,
        "hints": len(document["hints"]),
        "runs": runs,
        **figures,
        "runtime_ms": runtime,
        "runtime_share": runtime / figures["network_ms"] if figures["network_ms"] > 0 else None,
    }


def measure_full_resolution(
    height: int = 4000, width: int = 6000, runs: int = 3, size: int = 256, clock: Callable[[], float] = time.perf_counter
) -> dict:
    """Median seconds of the full-resolution work of one photo of height x width (default 6000x4000) besides the
    network, file reading and writing excluded: lightness (sRGB -> L*, the network input's source) and decode
    (a*b* enlarged bicubically, joined with L*, Lab -> sRGB uint8), as Colorizer.finish runs it."""
    from msau.runtime.color import image_lightness
    from msau.runtime.encoding import decode

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ab = rng.normal(0.0, 0.2, (2, size, size)).astype(np.float32)
    timed: dict[str, list[float]] = {"lightness": [], "decode": []}
    lightness = image_lightness(photo)
    for _ in range(runs):
        start = clock()
        lightness = image_lightness(photo)
        middle = clock()
        decode(ab, lightness, "bicubic")
        timed["lightness"].append(middle - start)
        timed["decode"].append(clock() - middle)
    return {"height": height, "width": width, "runs": runs,
            **{f"{name}_s": float(np.median(samples)) for name, samples in timed.items()}}
