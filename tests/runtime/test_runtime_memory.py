"""Peak memory of msau-run per pixel of a large photo: the full-resolution colour work is done in bands.

msau-run (default backend) runs in a fresh interpreter on a 16x16 photo and on a 3000x2000 one; the difference of
the two peak resident sizes (resource.getrusage, which counts every page touched, NumPy's and OpenCV's alike),
over the difference of pixels, is the cost per pixel of a photo. Converting whole planes at once cost about 100
bytes per pixel (2.55 GB for a 6000x4000 photo); in bands it is the photo, its L*, the enlarged a*b* and the
result, plus a few fixed bands: measured 25 bytes per pixel here, and 684 MB in all for a 6000x4000 photo.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

MAX_BYTES_PER_PIXEL = 30  # 1 GB for 6000x4000 = 24 Mpx, the interpreter and the backend included (~250 MB)

_PEAK = """
import resource, sys
from msau.runtime.cli import main
code = main([sys.argv[1], "-o", sys.argv[2], "--quiet"])
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, code)
"""


def _photo(path: Path, height: int, width: int) -> Path:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([np.sin(xx / 97) * 127 + 128, np.cos(yy / 61) * 127 + 128, (xx + yy) % 256], axis=-1)
    cv2.imwrite(str(path), image.astype(np.uint8))
    return path


def _peak_bytes(photo: Path, out: Path) -> int:
    done = subprocess.run([sys.executable, "-c", _PEAK, str(photo), str(out)], capture_output=True, text=True)
    line = next((line for line in done.stdout.splitlines() if line.startswith("PEAK")), None)
    assert line is not None, done.stdout + done.stderr
    _, peak, code = line.split()
    assert code == "0", done.stdout + done.stderr
    return int(peak)


def test_msau_run_peak_memory_per_pixel_of_a_large_photo(tmp_path: Path) -> None:
    small = _photo(tmp_path / "small.jpg", 16, 16)
    large = _photo(tmp_path / "large.jpg", 2000, 3000)
    base = _peak_bytes(small, tmp_path / "out_small")
    peak = _peak_bytes(large, tmp_path / "out_large")
    per_pixel = (peak - base) / (2000 * 3000 - 16 * 16)
    assert (tmp_path / "out_large" / "large.png").is_file()
    print(f"{per_pixel:.1f} bytes per pixel", base // 2**20, peak // 2**20)
    assert per_pixel < MAX_BYTES_PER_PIXEL, json.dumps({"base_mb": base / 2**20, "peak_mb": peak / 2**20})
