"""How the runtime compiles its hot loops: numba, for the CPU at hand, cached on disk.

The propagation's system and solvers (msau.runtime.grid_solvers), the hint correction's cell means and kernel
regression (msau.runtime.hint_transfer) and a photo's luminance (msau.runtime.color) are loops whose numpy forms
made many passes over small arrays, or dozens of calls per image; compiled they make one or two passes, without
the interpreter and without the GIL, so batch threads overlap them with the network.

numba compiles a function on first use (a few seconds, once) and caches the result beside its module, or where
NUMBA_CACHE_DIR says, so a later process loads it at once.
"""

from __future__ import annotations

from typing import Callable

import numba
import numpy as np

_OPTIONS = {"nogil": True, "fastmath": True, "error_model": "numpy"}


def compiled(function: Callable | None = None, *, inline: bool = False) -> Callable:
    """function compiled by numba, cached on disk where numba finds a writable place for it; where it finds none
    (a read-only install and home), compiled anew in each process rather than failing. inline: compiled into each
    compiled caller instead (for small helpers inside hot loops, where a call cost up to 30 %)."""
    if function is None:
        return lambda function: compiled(function, inline=inline)
    options = dict(_OPTIONS, inline="always") if inline else _OPTIONS
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(cache=False, **options)(function)


@compiled(inline=True)
def exp_in_place(values: np.ndarray, floor: float, scratch: np.ndarray) -> None:
    """values (n,) float32 := exp(max(values, floor)), floor >= -87 (so that the result stays a normal float32);
    scratch: an int32 array of at least n elements.

    Built from its parts: 2^m as float32 bits, times a degree-6 polynomial of the remainder (|r| < 0.35; relative
    error at most 3.4e-7 over [-40, 0]). numba has no vector exp without Intel's SVML: its scalar math.exp took
    5.1-5.4 ms for 1.2M values where this takes 0.9-1.1 ms (numpy's exp 0.7-0.9 ms), as both loops here compile to
    vector code."""
    count = values.shape[0]
    powers = scratch[:count]
    scales = powers.view(np.float32)
    for j in range(count):
        x = max(values[j], np.float32(floor))
        m = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))  # x / ln 2, rounded
        r = x - m * np.float32(0.693145751953125) - m * np.float32(1.428606765330187e-06)  # ln 2 in two parts
        values[j] = np.float32(1.0) + r * (
            np.float32(1.0)
            + r * (np.float32(0.5) + r * (np.float32(1 / 6) + r * (np.float32(1 / 24) + r * (np.float32(1 / 120) + r * np.float32(1 / 720)))))
        )
        powers[j] = (np.int32(m) + np.int32(127)) << np.int32(23)
    for j in range(count):
        values[j] *= scales[j]
