"""The photos and hints every exported artifact is verified on: example photos when present, else smooth
generated ones, encoded with the runtime's own code so that verification sees what serving sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import msau
from msau.runtime.contract import check_size
from msau.runtime.encoding import decode, encode, finish
from msau.runtime.hints import Hints, sample_hints
from msau.runtime.metrics import psnr

# 1% single-pixel hints: in the published training range (0.5-1%), dense enough that the output depends on them.
HINT_RATIO = 0.01
HINT_SEED = 0
# Photos are shrunk to this long side: decoding at full size would only make verification slower.
MAX_SIDE = 512


@dataclass(frozen=True)
class VerificationSet:
    """Network inputs (N, 4, size, size) float32 plus what is needed to decode and score each result."""

    inputs: np.ndarray  # (N, 4, h, w) float32, contract encoding
    lightness: tuple[np.ndarray, ...]  # full-resolution L* (H, W) per image
    references: tuple[np.ndarray, ...]  # ground-truth RGB uint8 (H, W, 3) per image
    source: str  # where the photos came from, for reports

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def example_photos_dir() -> Path:
    """The examples/color folder of a source checkout (originals of the example photos); may not exist."""
    return Path(msau.__file__).resolve().parent.parent / "examples" / "color"


def smooth_images(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Photo-like RGB uint8 images: smooth colour fields with soft blobs (no noise: real photos are smooth)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy /= height
    xx /= width
    images = []
    for _ in range(count):
        image = np.empty((height, width, 3), np.float32)
        for c in range(3):
            fx, fy = rng.uniform(0.5, 2.5, size=2)
            phase = rng.uniform(0, 2 * np.pi)
            image[..., c] = 0.5 + 0.35 * np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
        for _ in range(4):
            cy, cx = rng.uniform(0, 1, size=2)
            sigma = rng.uniform(0.08, 0.25)
            weight = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))[..., None]
            image = image * (1 - weight) + rng.uniform(0, 1, size=3).astype(np.float32) * weight
        images.append((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
    return images


def load_photos(folder: str | Path, limit: int = 8) -> list[np.ndarray]:
    """Up to limit readable photos of folder (sorted), as RGB uint8 with the long side at most MAX_SIDE."""
    from msau.model.data import load_folder

    return load_folder(folder, max_side=MAX_SIDE, limit=limit)


def verification_set(
    images: list[np.ndarray],
    size: int,
    source: str,
    ratio: float = HINT_RATIO,
    seed: int = HINT_SEED,
    draw: Callable[[np.ndarray, int], Hints] | None = None,
) -> VerificationSet:
    """Encode RGB photos at size x size with hints sampled from themselves (seed + index, reproducible): single
    pixels at ratio, or draw(image, seed + index) where given (e.g. clicks)."""
    check_size(size, size)
    if not images:
        raise ValueError("verification needs at least one image")
    draw = draw or (lambda image, image_seed: sample_hints(image, ratio, image_seed))
    encoded = [encode(image, draw(image, seed + i), (size, size)) for i, image in enumerate(images)]
    inputs = np.stack([x for x, _ in encoded])  # (N, 4, size, size)
    return VerificationSet(inputs, tuple(light for _, light in encoded), tuple(images), source)


def default_verification_set(size: int, images_dir: str | Path | None = None, count: int = 4) -> VerificationSet:
    """Photos of images_dir, else the example photos of a checkout, else count generated smooth images."""
    if images_dir is not None:
        folder = Path(images_dir)
        photos = load_photos(folder, limit=16)
        return verification_set(photos, size, f"{len(photos)} photos from {folder}")
    folder = example_photos_dir()
    if folder.is_dir():
        photos = load_photos(folder, limit=count)
        return verification_set(photos, size, f"{len(photos)} example photos from {folder}")
    return verification_set(smooth_images(count, 192, 256), size, f"{count} generated smooth images (no photos found)")


def image_psnr(ab: np.ndarray, data: VerificationSet, served: bool = False) -> float:
    """Mean end-to-end PSNR (dB, sRGB uint8) of network outputs ab (N, 2, h, w) decoded against the references;
    served: as users get them, with the hint correction and propagation (runtime.encoding.finish)."""
    pairs = zip(ab, data.inputs, data.lightness)
    results = [finish(out, x, light) if served else decode(out, light) for out, x, light in pairs]
    return float(np.mean([psnr(ref, result) for ref, result in zip(data.references, results)]))
