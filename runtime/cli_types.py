"""argparse types for numbers in a range, shared by every msau command, so a bad value reads the same everywhere:
``argument --batch-size: must be at least 1, got 0``."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from msau.runtime.contract import SIZE_MULTIPLE


def integer(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in low..high (high None: no upper bound)."""

    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def number(low: float = 0.0, inclusive: bool = True) -> Callable[[str], float]:
    """An argparse type: a finite float at least low (inclusive) or above it."""

    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            bound = f"{low:g} or more" if inclusive else f"more than {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def interval(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a float in low..high, each end included unless marked open."""

    def parse(text: str) -> float:
        value = float(text)
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if math.isnan(value) or below or above:
            ends = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"must be in {ends}, got {text}")
        return value

    return parse


def network_side(high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a side the network takes, a multiple of SIZE_MULTIPLE (its four 2x2 poolings), at most high."""
    bounded = integer(SIZE_MULTIPLE, high)

    def parse(text: str) -> int:
        value = bounded(text)
        if value % SIZE_MULTIPLE:
            raise argparse.ArgumentTypeError(f"must be a multiple of {SIZE_MULTIPLE} (four 2x2 poolings), got {value}")
        return value

    return parse
