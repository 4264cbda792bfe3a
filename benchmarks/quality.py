"""Quality harness: PSNR/SSIM against the ground-truth colours of photos, per hint ratio and configuration,
and parity of every configuration against a reference (torch fp32).

Rule for the photos (documented, deterministic): each colour photo is scaled so that its shorter side is
`size` (area averaging when shrinking, bilinear when enlarging) and centre-cropped to size x size; that
sRGB uint8 square is the ground truth. The network sees its L* and hints at the same size, so the
measurement is of the model and backend at network size (as the published MSAU-Net figures are), through
the runtime's own encode/finish (msau.runtime.encoding, hint correction included as the Colorizer
applies it), not the full-resolution Colorizer path.

Hints: for photo i (0-based, files sorted by name) and ratio r,
msau.runtime.hints.sample_hints(ground_truth_i, r, seed=seed + i, grid=grid): round(r * size^2) distinct
single pixels drawn with numpy's default_rng(seed + i), taking their colours from the ground truth (plus
the original project's 7x7 grid with --grid). Every configuration sees the same hints.

Metrics: msau.runtime.metrics psnr/ssim (skimage definitions) on sRGB uint8, per image, then averaged.
Parity: max and mean |ab - ab_ref| in CIE units (ab x 110, both clipped to +-1 as the runtime clips them) and the
PSNR of the RGB result against the reference's, averaged per image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msau.benchmarks.configs import FAILED, OK, Config, check_output, classify_open_error, open_config, run_error
from msau.benchmarks.schema import ConfigResult
from msau.runtime.contract import AB_LIMIT, AB_SCALE, DEFAULT_SIZE, check_size
from msau.runtime.encoding import center_crop, encode, finish
from msau.runtime.hints import Hints, sample_hints
from msau.runtime.metrics import psnr, ssim

DEFAULT_RATIOS = (0.0, 0.001, 0.005, 0.01)
DEFAULT_BATCH = 8
REFERENCE = ("torch", "fp32")
PREPROCESSING = (
    "shorter side scaled to {size} px (area averaging when shrinking, bilinear when enlarging), "
    "centre crop {size}x{size}; sRGB uint8 ground truth at network size"
)
HINT_RULE = (
    "sample_hints(ground_truth_i, ratio, seed=seed + i, grid=grid): round(ratio * H * W) distinct random "
    "pixels, colours from the ground truth; i = index of the photo in name order"
)


class QualityError(ValueError):
    """No photos to measure on; the message names the folder and what is wrong."""


@dataclass(frozen=True)
class Photo:
    """A ground-truth colour photo at network size (size, size, 3) uint8 and the file it came from."""

    name: str
    ground_truth: np.ndarray


def list_photos(folder: Path) -> list[Path]:
    """Image files directly in folder, sorted by name."""
    from msau.runtime.image_io import IMAGE_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_photos(
    folder: str | Path, size: int = DEFAULT_SIZE, max_images: int | None = None
) -> tuple[list[Photo], list[dict]]:
    """(photos, left out) from a folder: gray photos and unreadable files are left out with the reason.

    QualityError if the folder is missing or has no usable colour photo.
    """
    from msau.runtime.image_io import ImageError, is_colour, read_image, to_uint8

    folder = Path(folder)
    check_size(size, size)
    if not folder.is_dir():
        raise QualityError(f"{folder}: no such folder of colour photos (pass --images DIR)")
    photos, left_out = [], []
    for path in list_photos(folder):
        if max_images is not None and len(photos) >= max_images:
            break
        try:
            image = read_image(path)
        except ImageError as error:
            left_out.append({"file": path.name, "reason": str(error)})
            continue
        if not is_colour(image):
            left_out.append({"file": path.name, "reason": "not a colour photo (no ground-truth colours)"})
            continue
        photos.append(Photo(path.name, center_crop(to_uint8(image), size)))
    if not photos:
        raise QualityError(f"{folder}: no colour photos to measure on ({len(left_out)} file(s) left out)")
    return photos, left_out


@dataclass
class HintedSet:
    """The network inputs of all photos at one hint ratio: x (N, 4, s, s), L* per photo, the hints."""

    ratio: float
    x: np.ndarray
    lightness: list[np.ndarray]
    hints: list[Hints]


def prepare(photos: Sequence[Photo], ratio: float, seed: int = 0, grid: bool = False) -> HintedSet:
    """Sample hints (the documented rule) and encode every photo at its own (network) size."""
    xs, lightness, hints = [], [], []
    for i, photo in enumerate(photos):
        photo_hints = sample_hints(photo.ground_truth, ratio, seed=seed + i, grid=grid)
        x, L = encode(photo.ground_truth, photo_hints, photo.ground_truth.shape[:2])
        xs.append(x)
        lightness.append(L)
        hints.append(photo_hints)
    return HintedSet(ratio, np.stack(xs), lightness, hints)  # (N, 4, s, s)


def infer_all(backend, x: np.ndarray, batch_size: int) -> np.ndarray:
    """ab (N, 2, H, W) for inputs x (N, 4, H, W), in batches; checks each output's shape and values."""
    outputs = []
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size]
        ab = np.asarray(backend.infer(chunk), dtype=np.float32)
        check_output(ab, len(chunk), chunk.shape[2], chunk.shape[3])
        if not np.isfinite(ab).all():
            raise ValueError("backend returned non-finite values (NaN or inf)")
        outputs.append(ab)
    return np.concatenate(outputs)


def parity(ab: np.ndarray, ab_ref: np.ndarray, rgb: list[np.ndarray], rgb_ref: list[np.ndarray]) -> dict:
    """How far a configuration's output is from the reference's: ab in CIE units, RGB as PSNR (dB). The ab are
    compared as the runtime uses them, clipped to +-AB_LIMIT: the network overshoots at a few border pixels, by
    up to 6x the limit, and unclipped, INT8 and fp32 differed there by 389 CIE units where the runtime sees 126."""
    diff = np.abs(np.clip(ab.astype(np.float64), -AB_LIMIT, AB_LIMIT) - np.clip(ab_ref, -AB_LIMIT, AB_LIMIT)) * AB_SCALE
    return {
        "max_abs_ab": float(diff.max()),
        "mean_abs_ab": float(diff.mean()),
        "psnr_vs_reference": float(np.mean([psnr(r, o) for r, o in zip(rgb_ref, rgb)])),
    }


def _reference_order(configs: list[Config], reference: tuple[str, str]) -> list[Config]:
    """Reference first, then the other fp32 configurations (fallback references), then the rest."""

    def rank(config: Config) -> int:
        if (config.backend, config.precision) == reference:
            return 0
        return 1 if config.precision == "fp32" else 2

    return sorted(configs, key=rank)  # stable: registry order within a rank


@dataclass(frozen=True)
class QualityOutcome:
    """What run_quality measured: the reference's key ("torch/fp32", the fp32 configuration used instead, or
    None), one result per configuration in the given order, and for the contact sheet the first keep_images
    results {ratio: {key: [RGB uint8, ...]}} and their hints {ratio: [Hints, ...]} (not for JSON)."""

    reference: str | None
    results: list[ConfigResult]
    samples: dict[float, dict[str, list[np.ndarray]]]
    hints: dict[float, list[Hints]]


def run_quality(
    configs: list[Config],
    photos: Sequence[Photo],
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seed: int = 0,
    grid: bool = False,
    batch_size: int = DEFAULT_BATCH,
    opener: Callable[[Config], object] = open_config,
    reference: tuple[str, str] = REFERENCE,
    keep_images: int = 0,
    progress: Callable[[str], None] | None = None,
    refine: bool = True,
) -> QualityOutcome:
    """Quality of every configuration that is not already skipped; refine=False scores the network without the
    runtime's hint correction and propagation (as msau-run --no-refine).

    Returns a QualityOutcome (samples and hints for the first keep_images photos). A result holds backend,
    precision, device, artifact, artifact_mb, status, reason and by_ratio: ratio, psnr, ssim (means), psnr_per_image,
    ssim_per_image and parity (None for the reference itself or without one).
    """
    sets = [prepare(photos, ratio, seed, grid) for ratio in ratios]
    truth = [photo.ground_truth for photo in photos]
    results = {id(c): {**c.describe(), "status": c.status, "reason": c.reason, "by_ratio": []} for c in configs}
    samples: dict[float, dict[str, list[np.ndarray]]] = {s.ratio: {} for s in sets}
    reference_key, reference_out = None, None
    for config in _reference_order(configs, reference):
        result = results[id(config)]
        if config.status != OK:
            continue
        try:
            backend = opener(config)
        except Exception as error:  # any backend error becomes this configuration's status
            result["status"], result["reason"] = classify_open_error(error)
            if progress is not None:
                progress(f"{config.key}: {result['status']}: {result['reason']}")
            continue
        try:
            outputs = [infer_all(backend, s.x, batch_size) for s in sets]
        except Exception as error:
            result["status"], result["reason"] = FAILED, run_error(error)
            if progress is not None:
                progress(f"{config.key}: failed: {result['reason']}")
            continue
        finally:
            backend.close()
        rgb_sets = [
            [finish(ab, x, L, refine=refine) for ab, x, L in zip(out, s.x, s.lightness)] for out, s in zip(outputs, sets)
        ]
        is_reference = reference_out is None and config.precision == "fp32"
        for s, out, rgb in zip(sets, outputs, rgb_sets):
            psnrs = [psnr(t, r) for t, r in zip(truth, rgb)]
            ssims = [ssim(t, r) for t, r in zip(truth, rgb)]
            entry = {
                "ratio": s.ratio,
                "psnr": float(np.mean(psnrs)),
                "ssim": float(np.mean(ssims)),
                "psnr_per_image": psnrs,
                "ssim_per_image": ssims,
                "parity": None,
            }
            if reference_out is not None:
                ref_ab, ref_rgb = reference_out[s.ratio]
                entry["parity"] = parity(out, ref_ab, rgb, ref_rgb)
            result["by_ratio"].append(entry)
            samples[s.ratio][config.key] = rgb[:keep_images]
        if progress is not None:
            progress(
                f"{config.key}: "
                + ", ".join(f"{e['ratio'] * 100:g}% hints PSNR {e['psnr']:.2f} dB" for e in result["by_ratio"])
            )
        if is_reference:
            reference_key = config.key
            reference_out = {s.ratio: (out, rgb) for s, out, rgb in zip(sets, outputs, rgb_sets)}
    return QualityOutcome(
        reference=reference_key,
        results=[ConfigResult.from_json(results[id(c)]) for c in configs],  # the working dicts, complete
        samples=samples,
        hints={s.ratio: s.hints[:keep_images] for s in sets},
    )


def quality_settings(
    size: int, ratios: Sequence[float], seed: int, grid: bool, batch_size: int, refine: bool = True
) -> dict:
    """The settings and the documented rules, as JSON fields."""
    return {
        "size": size,
        "ratios": list(ratios),
        "seed": seed,
        "grid": grid,
        "batch_size": batch_size,
        "hint_propagation": refine,
        "preprocessing": PREPROCESSING.format(size=size),
        "hint_sampling": HINT_RULE,
        "metrics": "msau.runtime.metrics psnr/ssim (skimage definitions) on sRGB uint8, per image, averaged",
        "parity": "max/mean |ab - ab_ref| x 110 (CIE units; both clipped to +-1 first, as the runtime does) and PSNR "
        "of the RGB result vs the reference's",
    }
