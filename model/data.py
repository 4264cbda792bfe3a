"""Training data: an image folder, random rescale + crop + flip (+ hue rotation), sampled hints, encoded with the
runtime's code."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from msau.runtime.color import lab_to_rgb_uint8, rgb_to_lab
from msau.runtime.contract import AB_SCALE
from msau.runtime.encoding import encode, resize
from msau.runtime.hints import Hints, sample_clicks, sample_hints
from msau.runtime.image_io import IMAGE_SUFFIXES



def find_images(folder: str | Path) -> list[Path]:
    """Image files under folder, recursively, sorted; ValueError if the folder is missing or holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of images")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    return paths


def read_rgb8(path: Path) -> np.ndarray | None:
    """RGB uint8 (H, W, 3) of an image file, EXIF orientation applied; None if it cannot be decoded."""
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_folder(folder: str | Path, max_side: int = 1024, limit: int | None = None) -> list[np.ndarray]:
    """All readable images of a folder (the first limit of them, sorted, if given) as RGB uint8, shrunk so the
    longer side is at most max_side.

    An unreadable file is skipped with a warning naming it; ValueError if none can be read.
    """
    images = []
    for path in find_images(folder):
        if limit is not None and len(images) >= limit:
            break  # decoding the rest of a large folder would only cost time and memory
        image = read_rgb8(path)
        if image is None:
            warnings.warn(f"{path}: cannot decode image, skipped", stacklevel=2)
            continue
        scale = max_side / max(image.shape[:2])
        if scale < 1:
            image = resize(image, round(image.shape[0] * scale), round(image.shape[1] * scale))
        images.append(image)
    if not images:
        raise ValueError(f"{folder}: none of the images could be read")
    return images


@dataclass(frozen=True)
class HintSampling:
    """How training draws hints: random single pixels at 0.05-2 % (log-uniform, as the original project trained,
    sometimes with its 7x7 grid), user-like clicks (1-50 points, radius 0-4, patch-mean colour, as Zhang et al.
    2017 simulated users), and sometimes none, so that the model serves a few clicks as well as dense hints."""

    ratio_min: float = 0.0005
    ratio_max: float = 0.02
    none_probability: float = 0.05
    click_probability: float = 0.4
    clicks_max: int = 50
    click_radius_max: int = 4
    grid_probability: float = 0.1  # of the single-pixel draws

    def draw(self, reference: np.ndarray, rng: np.random.Generator) -> Hints:
        u = rng.random()
        if u < self.none_probability:
            return Hints.empty()
        if u < self.none_probability + self.click_probability:
            # Log-uniform in 1..clicks_max: a user gives 2 clicks as often as 20.
            count = int(np.exp(rng.uniform(0.0, np.log(self.clicks_max + 1))))
            return sample_clicks(reference, min(max(count, 1), self.clicks_max), rng, self.click_radius_max)
        ratio = float(np.exp(rng.uniform(np.log(self.ratio_min), np.log(self.ratio_max))))
        return sample_hints(reference, ratio, rng, grid=bool(rng.random() < self.grid_probability))


def random_crop(
    image: np.ndarray, crop: int, short_side_range: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """A crop x crop uint8 patch of the image rescaled so its shorter side is U(short_side_range) pixels."""
    height, width = image.shape[:2]
    short = rng.uniform(*short_side_range)
    scale = max(short, crop) / min(height, width)
    # Cut the source window first, then resize only that: cheap for large photos.
    window = min(int(np.ceil(crop / scale)), height, width)
    top = int(rng.integers(0, height - window + 1))
    left = int(rng.integers(0, width - window + 1))
    patch = resize(image[top : top + window, left : left + window], crop, crop)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return np.ascontiguousarray(patch)


def rotate_hue(patch: np.ndarray, angle: float) -> np.ndarray:
    """The RGB uint8 patch with its Lab chroma (a, b) rotated by angle radians: same lightness and saturation
    (up to the sRGB gamut), other hues."""
    lab = rgb_to_lab(patch)
    cos, sin = np.cos(angle), np.sin(angle)
    a, b = lab[..., 1].copy(), lab[..., 2].copy()
    lab[..., 1] = cos * a - sin * b
    lab[..., 2] = sin * a + cos * b
    return lab_to_rgb_uint8(lab)


def make_example(patch: np.ndarray, hints: Hints) -> tuple[np.ndarray, np.ndarray]:
    """(contract input (4, h, w), target ab/AB_SCALE (2, h, w)) of an RGB uint8 patch and its hints."""
    x, _ = encode(patch, hints, patch.shape[:2])
    target = (rgb_to_lab(patch)[..., 1:] / AB_SCALE).transpose(2, 0, 1)
    return x, np.ascontiguousarray(target, dtype=np.float32)


class TrainingSampler:
    """Draws random training batches from images held in memory; batch b of step s depends only on (seed, s)."""

    def __init__(
        self,
        images: list[np.ndarray],
        short_side_range: tuple[float, float] = (224.0, 512.0),
        hints: HintSampling = HintSampling(),
        hue_probability: float = 0.0,
    ) -> None:
        """hue_probability: the share of patches whose hues are rotated at random, so that the network cannot
        learn the training photos' colours by heart and must take them from the hints."""
        self.images = images
        self.short_side_range = short_side_range
        self.hints = hints
        self.hue_probability = hue_probability

    def batch(self, batch_size: int, crop: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs (B, 4, crop, crop), targets (B, 2, crop, crop)), float32."""
        rng = np.random.default_rng([seed, step])
        xs, ys = [], []
        for _ in range(batch_size):
            image = self.images[int(rng.integers(len(self.images)))]
            patch = random_crop(image, crop, self.short_side_range, rng)
            # No draw at probability 0: batches stay those of runs made before the option existed.
            if self.hue_probability and rng.random() < self.hue_probability:
                patch = rotate_hue(patch, float(rng.uniform(-np.pi, np.pi)))
            x, y = make_example(patch, self.hints.draw(patch, rng))
            xs.append(x)
            ys.append(y)
        return np.stack(xs), np.stack(ys)
