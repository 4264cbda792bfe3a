"""Validation the way users are served: runtime encode -> network -> runtime decode, PSNR/SSIM on sRGB uint8."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from msau.runtime.encoding import encode, finish
from msau.runtime.hints import Hints, sample_clicks, sample_hints
from msau.runtime.metrics import psnr, ssim


@dataclass(frozen=True)
class Quality:
    psnr: float
    ssim: float
    images: int


@dataclass(frozen=True)
class HintSetting:
    """How validation hints are drawn from each reference: a ratio of single pixels (with the original project's
    7x7 grid if asked), or a number of user-like clicks (runtime.hints.sample_clicks)."""

    ratio: float = 0.0
    clicks: int = 0
    grid: bool = False

    def __post_init__(self) -> None:
        if self.ratio and self.clicks:
            raise ValueError("a hint setting is a ratio of pixels or a number of clicks, not both")
        if not 0 <= self.ratio <= 1 or self.clicks < 0:
            raise ValueError(f"hint ratios must be in [0, 1] and clicks at least 0, got ratio {self.ratio} and {self.clicks} clicks")

    def draw(self, reference: np.ndarray, seed: int) -> Hints:
        if self.clicks:
            return sample_clicks(reference, self.clicks, seed)
        return sample_hints(reference, self.ratio, seed, self.grid)

    @property
    def label(self) -> str:
        if self.clicks:
            return f"{self.clicks} clicks"
        return f"{self.ratio * 100:g}%" + (" + 7x7" if self.grid else "")


@dataclass(frozen=True)
class Scores:
    """The same network outputs scored two ways: as they are and as served (hint correction and propagation)."""

    network: Quality
    served: Quality


@torch.no_grad()
def score(model: torch.nn.Module, references: list[np.ndarray], hints: HintSetting, seed: int = 0) -> Scores:
    """Mean PSNR/SSIM of the model over RGB uint8 references (each its own size, multiple of 16), network alone and
    as served, from one forward pass per image. Image i gets hints drawn with seed (seed + i): reproducible."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    raw: list[tuple[float, float]] = []
    served: list[tuple[float, float]] = []
    for i, reference in enumerate(references):
        x, lightness = encode(reference, hints.draw(reference, seed + i), reference.shape[:2])
        ab = model(torch.from_numpy(x[None]).to(device)).float().cpu().numpy()[0]  # (2, H, W)
        for refine, figures in ((False, raw), (True, served)):
            result = finish(ab, x, lightness, refine=refine)
            figures.append((psnr(reference, result), ssim(reference, result)))
    model.train(was_training)
    return Scores(_mean(raw), _mean(served))


def _mean(figures: list[tuple[float, float]]) -> Quality:
    return Quality(float(np.mean([p for p, _ in figures])), float(np.mean([s for _, s in figures])), len(figures))


def evaluate(
    model: torch.nn.Module,
    references: list[np.ndarray],
    ratio: float = 0.005,
    seed: int = 0,
    grid: bool = False,
    refine: bool = False,
) -> Quality:
    """Mean PSNR/SSIM at a ratio of single-pixel hints; refine: as served (hint correction and propagation)."""
    scores = score(model, references, HintSetting(ratio=ratio, grid=grid), seed)
    return scores.served if refine else scores.network


def score_over_seeds(
    model: torch.nn.Module, references: list[np.ndarray], hints: HintSetting, seeds: list[int]
) -> Scores:
    """score() averaged over several hint seeds: one draw of hints moves a figure by tenths of a dB on a few photos."""
    runs = [score(model, references, hints, seed) for seed in seeds]
    return Scores(
        _mean([(r.network.psnr, r.network.ssim) for r in runs]), _mean([(r.served.psnr, r.served.ssim) for r in runs])
    )


def evaluate_over_seeds(
    model: torch.nn.Module, references: list[np.ndarray], ratio: float, seeds: list[int], grid: bool = False,
    refine: bool = False,
) -> Quality:
    """evaluate() averaged over several hint seeds."""
    scores = score_over_seeds(model, references, HintSetting(ratio=ratio, grid=grid), seeds)
    quality = scores.served if refine else scores.network
    return Quality(quality.psnr, quality.ssim, len(references))


def _numbers(text: str, kind: type) -> list:
    return [kind(item) for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    """python -m msau.model.evaluate CKPT DIR: validation table at several hint settings (for model cards)."""
    import argparse
    import sys

    from msau.model.checkpoint import load_checkpoint
    from msau.model.data import load_folder
    from msau.runtime.cli_types import network_side
    from msau.runtime.encoding import center_crop

    parser = argparse.ArgumentParser(
        prog="python -m msau.model.evaluate",
        description="PSNR/SSIM of a checkpoint on centre crops of a photo folder, network alone and as served "
        "(hint correction and propagation), at several hint ratios and click counts (image i of seed s gets hints "
        "drawn with seed s + i; sRGB uint8, per image, averaged).",
    )
    parser.add_argument("weights", help="checkpoint (.safetensors)")
    parser.add_argument("folder", help="folder of colour photos")
    parser.add_argument("--size", type=network_side(), default=256, help="centre-crop size (shorter side resized to it first)")
    parser.add_argument("--ratios", default="0,0.001,0.005,0.01", help="comma-separated ratios of single-pixel hints")
    parser.add_argument("--clicks", default="", help="comma-separated numbers of user-like clicks, e.g. 10,50")
    parser.add_argument("--grid", action="store_true", help="also score each ratio with the original 7x7 grid added")
    parser.add_argument(
        "--seeds", default="0",
        help="comma-separated hint seeds; figures are averaged over them (space them by more than the number of "
        "photos, e.g. 0,1000,2000)",
    )
    args = parser.parse_args(argv)
    try:
        seeds = _numbers(args.seeds, int)
        ratios = _numbers(args.ratios, float)
        clicks = _numbers(args.clicks, int)
        settings = [HintSetting(ratio=r, grid=g) for r in ratios for g in ((False, True) if args.grid else (False,))]
        settings += [HintSetting(clicks=c) for c in clicks]
    except ValueError as error:
        parser.error(
            f"--seeds, --ratios and --clicks take comma-separated numbers, got {args.seeds!r}, {args.ratios!r} "
            f"and {args.clicks!r} ({error})"
        )
    try:
        model, _ = load_checkpoint(args.weights)
        references = [center_crop(image, args.size) for image in load_folder(args.folder)]
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(references)} photos, {args.size}² centre crops, hint seeds {','.join(map(str, seeds))}")
    print("| hints | network PSNR (dB) | network SSIM | as served PSNR (dB) | as served SSIM |")
    print("|---|---|---|---|---|")
    for setting in settings:
        scores = score_over_seeds(model, references, setting, seeds)
        print(f"| {setting.label} | {scores.network.psnr:.2f} | {scores.network.ssim:.4f} | "
              f"{scores.served.psnr:.2f} | {scores.served.ssim:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
