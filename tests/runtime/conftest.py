"""Fixtures of the runtime tests: crafted hostile files and a peak-memory probe."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Callable

import pytest


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_bomb(path: Path, width: int, height: int, rows: int = 4) -> Path:
    """A valid-looking RGB PNG that declares width x height pixels but holds only a few rows (a few hundred bytes):
    a decoder that trusts the header allocates the whole image first."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    pixels = zlib.compress(b"\x00" * (rows * (1 + 3 * width)), 9)  # filter byte + RGB per row
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="session")
def png_bomb() -> Callable[..., Path]:
    """png_bomb(path, width, height) -> path: a tiny PNG whose header declares width x height pixels."""
    return write_png_bomb


def peak_memory_mb(code: str) -> float:
    """Peak resident memory (MB) of a fresh Python process that runs code (after importing numpy and cv2, whose
    own footprint is part of the figure)."""
    program = f"import resource, numpy, cv2\n{code}\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024  # ru_maxrss is in KB on Linux


@pytest.fixture(scope="session")
def peak_memory() -> Callable[[str], float]:
    """peak_memory(code) -> MB: peak RSS of a subprocess running code."""
    return peak_memory_mb


@pytest.fixture(scope="session")
def baseline_memory() -> float:
    """Peak RSS (MB) of a subprocess that imports numpy and cv2 and does nothing else."""
    return peak_memory_mb("pass")
