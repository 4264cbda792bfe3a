"""Regenerate the example inputs from the validation photos in ../shared/data/val (maintainers only).

For each photo: a colour reference (long side 512), its gray version (the photo's own CIE L*, written as the
gray whose (v, v, v) has that lightness) and a hint file sampled from the reference with a fixed seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from msau.runtime.color import lab_to_rgb_uint8, rgb_to_lab
from msau.runtime.encoding import resize
from msau.runtime.hints import Hints, sample_hints

# stem -> (hint format, ratio of pixels, patch radius); one sparse "user clicks" example among them.
EXAMPLES = {
    "dragonfly_by_bolly": ("json", 0.005, 0),
    "garden": ("json", 0.005, 0),
    "ladybird": ("png", 0.005, 0),
    "kite": ("json", 0.0004, 2),
}
LONG_SIDE = 512


def gray_of(rgb: np.ndarray) -> np.ndarray:
    lab = rgb_to_lab(rgb)
    lab[..., 1:] = 0
    return lab_to_rgb_uint8(lab)[..., 0]


def hints_png(hints: Hints, height: int, width: int) -> np.ndarray:
    rgba = np.zeros((height, width, 4), np.uint8)
    x, y = hints.xy[:, 0].astype(int), hints.xy[:, 1].astype(int)
    rgba[y, x, :3] = hints.rgb
    rgba[y, x, 3] = 255
    return rgba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--val", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "val"))
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    for folder in ("gray", "hints", "color"):
        (here / folder).mkdir(exist_ok=True)
    for seed, (stem, (kind, ratio, radius)) in enumerate(EXAMPLES.items()):
        rgb = cv2.cvtColor(cv2.imread(str(Path(args.val) / f"{stem}.jpg")), cv2.COLOR_BGR2RGB)
        scale = LONG_SIDE / max(rgb.shape[:2])
        rgb = resize(rgb, round(rgb.shape[0] * scale), round(rgb.shape[1] * scale))
        height, width = rgb.shape[:2]
        cv2.imwrite(str(here / "color" / f"{stem}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        cv2.imwrite(str(here / "gray" / f"{stem}.png"), gray_of(rgb))
        hints = sample_hints(rgb, ratio, seed)
        if radius:
            hints = Hints(hints.xy, hints.rgb, np.full(len(hints), radius, np.int32))
        if kind == "json":
            (here / "hints" / f"{stem}.json").write_text(json.dumps(hints.to_json()) + "\n")
        else:
            cv2.imwrite(str(here / "hints" / f"{stem}.png"), cv2.cvtColor(hints_png(hints, height, width), cv2.COLOR_RGBA2BGRA))
        print(f"{stem}: {width}x{height}, {len(hints)} hints ({kind})")


if __name__ == "__main__":
    main()
