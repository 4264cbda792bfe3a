"""glibc's allocator kept from mapping and unmapping the finish's temporaries on every call.

The finish allocates temporaries of 0.25–0.5 MB per 256x256 photo (the propagation's systems and CG vectors,
in numba and numpy), the second edge width's in a worker thread. Once OpenVINO had compiled the INT8 model (what
`auto` runs on CPUs without native bf16), glibc served blocks of that size in worker threads with fresh mappings
each time, so every call paid page faults on first touch: in one process (2-core AMD EPYC, 2026-12-07), one
edge width's solve took 4.2–4.8 ms in a thread against 1.9–2.2 on the main thread, and the whole finish 8.5–10.7
ms against 5.4–6.5 beside ONNX Runtime or OpenVINO bf16. With blocks up to MMAP_THRESHOLD kept on the heap the
finish took 6.2 ms there, and nothing changed beside the other backends
(benchmarks/results/2026-12-07-epyc.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap, not from their own mapping: a 2048x2048 network size's planes are
# 16 MB and still mapped; the heap keeps at most TRIM_THRESHOLD of free memory at its top per arena before it
# gives memory back, so what is retained stays a few MB per thread.
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


@functools.lru_cache(maxsize=1)
def _mallopt():
    """glibc's mallopt, or None on other C libraries (musl, macOS, Windows)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "mallopt", None) if name else None


def keep_temporaries_on_heap() -> bool:
    """Set glibc's mmap and trim thresholds for this process (see the module docstring); True where they were set.
    Called after a backend is opened: a backend's libraries may set them when they load."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
