"""How the runtime compiles its hot loops: numba, for the CPU at hand, cached on disk.

The propagation's solvers (msau.runtime.grid_solvers) and the hint correction's kernel regression
(msau.runtime.hint_transfer) are loops whose numpy forms made many passes over their arrays; compiled they make one
or two, without the interpreter and without the GIL, so batch threads overlap them with the network.

numba compiles a function on first use (a few seconds, once) and caches the result beside its module, or where
NUMBA_CACHE_DIR says, so a later process loads it at once.
"""

from __future__ import annotations

from typing import Callable

import numba

_OPTIONS = {"nogil": True, "fastmath": True, "error_model": "numpy"}


def compiled(function: Callable) -> Callable:
    """function compiled by numba, cached on disk where numba finds a writable place for it; where it finds none
    (a read-only install and home), compiled anew in each process rather than failing."""
    try:
        return numba.njit(cache=True, **_OPTIONS)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(cache=False, **_OPTIONS)(function)
