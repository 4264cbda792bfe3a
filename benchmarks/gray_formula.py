"""Gray photos made by each formula (the contract's lightness, Rec. 601 and Rec. 709 luma) and colorized with hints
taken from their colour originals: PSNR as served with ``gray_from="auto"`` and read as the contract's lightness,
the formula auto told, and what keeping luma costs on a large photo.

    python -m msau.benchmarks.gray_formula --photos DIR [--ratios 0.001,0.005] [--count 105] [--backend auto]

Photo i of the folder (sorted, 256² centre crops) gets single-pixel hints seeded 7 + i. Results go to stdout as a
Markdown table (benchmarks/results/2026-12-07-gray-formula.md holds one run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

CROP = 256
HINT_SEED = 7
LARGE_PHOTO = (3000, 4000)  # a 12-megapixel photo for the timing


def make_gray(rgb: np.ndarray, formula: str) -> np.ndarray:
    """The gray photo (H, W) uint8 that ``formula`` makes of an RGB uint8 photo, rounded as image tools round it."""
    from msau.runtime.gray_formula import gray_levels

    return np.rint(gray_levels(rgb.reshape(-1, 3), formula) * 255.0).astype(np.uint8).reshape(rgb.shape[:2])


def load_crops(folder: Path, count: int) -> list[np.ndarray]:
    from msau.runtime.color import as_rgb
    from msau.runtime.encoding import center_crop
    from msau.runtime.image_io import ImageError, read_image

    crops = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if len(crops) >= count:
            break
        try:
            crops.append(center_crop(np.ascontiguousarray(as_rgb(read_image(path))), CROP))
        except ImageError:
            continue
    if not crops:
        raise ValueError(f"{folder}: no readable photos")
    return crops


def quality_table(photos: list[np.ndarray], ratios: list[float], backend: str) -> str:
    from msau.runtime.colorizer import Colorizer
    from msau.runtime.gray_formula import GRAY_FORMULAS
    from msau.runtime.hints import sample_hints
    from msau.runtime.metrics import psnr

    lines = [
        "| gray made by | hints | PSNR, gray_from auto (dB) | PSNR, read as lightness (dB) | auto told |",
        "|---|---:|---:|---:|---|",
    ]
    with Colorizer(backend=backend) as auto, Colorizer(backend=backend, gray_from="lightness") as contract:
        for formula in GRAY_FORMULAS:
            for ratio in ratios:
                scores: dict[str, list[float]] = {"auto": [], "lightness": []}
                told: dict[str, int] = {}
                for i, photo in enumerate(photos):
                    gray, hints = make_gray(photo, formula), sample_hints(photo, ratio, HINT_SEED + i)
                    prepared = auto.prepare(gray, hints)
                    told[prepared.gray_formula] = told.get(prepared.gray_formula, 0) + 1
                    scores["auto"].append(psnr(photo, auto.finish(auto.infer([prepared])[0], prepared)))
                    scores["lightness"].append(psnr(photo, contract(gray, hints)))
                counts = ", ".join(f"{name} {n}" for name, n in sorted(told.items()))
                lines.append(
                    f"| {formula} | {ratio:.1%} | {np.mean(scores['auto']):.3f} | {np.mean(scores['lightness']):.3f} | {counts} |"
                )
    return f"{len(photos)} photos, {CROP}² centre crops, {auto.describe()}\n\n" + "\n".join(lines)


def timing_line(rounds: int = 3) -> str:
    """Median seconds of luma_lightness against the decode's own join, on a 12-megapixel photo."""
    from msau.benchmarks.photos import synthetic_photo
    from msau.runtime.color import gray_lightness, join_lab_to_rgb_uint8, rgb_to_lab
    from msau.runtime.encoding import resize
    from msau.runtime.gray_formula import LUMA_WEIGHTS, luma_lightness

    photo = resize(synthetic_photo(1024, seed=0), *LARGE_PHOTO, upsampling="bicubic")
    target = gray_lightness(make_gray(photo, "rec601"))
    ab = np.ascontiguousarray(np.moveaxis(rgb_to_lab(photo)[..., 1:], -1, 0), np.float32) * np.float32(0.7)

    def median_seconds(work) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    search = median_seconds(lambda: luma_lightness(target, ab, LUMA_WEIGHTS["rec601"]))
    join = median_seconds(lambda: join_lab_to_rgb_uint8(target, ab))
    height, width = LARGE_PHOTO
    return f"{width}x{height} photo: the luma search {search:.2f} s, the decode's own Lab -> sRGB join {join:.2f} s (medians of {rounds})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m msau.benchmarks.gray_formula", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True, metavar="DIR", help="colour originals (e.g. ../shared/data/val)")
    parser.add_argument("--ratios", default="0.001,0.005", help="hint ratios (default: %(default)s)")
    parser.add_argument("--count", type=int, default=105, help="photos of the folder used (default: %(default)s)")
    parser.add_argument("--backend", default="auto", help="Colorizer backend (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from msau.benchmarks.hostinfo import cpu_facts

    cpu = cpu_facts()
    print(f"CPU: {cpu['model']}, {cpu['usable_cores']} cores usable, flags {' '.join(cpu['features'])}\n")
    try:
        ratios = [float(r) for r in args.ratios.split(",")]
        print(quality_table(load_crops(args.photos, args.count), ratios, args.backend))
    except (RuntimeError, ValueError, OSError) as error:  # BackendError is a RuntimeError
        print(f"gray_formula: {error}", file=sys.stderr)
        return 2
    print("\n" + timing_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
