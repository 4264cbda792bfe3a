"""Validation the way users are served: runtime encode -> network -> runtime decode, PSNR/SSIM on sRGB uint8."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from msau.runtime.encoding import encode, finish
from msau.runtime.hints import sample_hints
from msau.runtime.metrics import psnr, ssim


@dataclass(frozen=True)
class Quality:
    psnr: float
    ssim: float
    images: int


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    references: list[np.ndarray],
    ratio: float = 0.005,
    seed: int = 0,
    grid: bool = False,
    batch_size: int = 8,
    refine: bool = False,
) -> Quality:
    """Mean PSNR/SSIM of the model over RGB uint8 references (each its own size, multiple of 16).

    Hints are sampled from each reference with seed (seed + index), so figures are reproducible. refine applies
    the runtime's hint correction and edge-aware propagation (what msau-run and Colorizer do by default).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    psnrs, ssims = [], []
    for start in range(0, len(references), batch_size):
        chunk = references[start : start + batch_size]
        encoded = [
            encode(ref, sample_hints(ref, ratio, seed + start + i, grid), ref.shape[:2]) for i, ref in enumerate(chunk)
        ]
        for (x, lightness), ref in zip(encoded, chunk):
            ab = model(torch.from_numpy(x[None]).to(device)).float().cpu().numpy()[0]
            result = finish(ab, x, lightness, refine=refine)
            psnrs.append(psnr(ref, result))
            ssims.append(ssim(ref, result))
    model.train(was_training)
    return Quality(float(np.mean(psnrs)), float(np.mean(ssims)), len(references))


def evaluate_over_seeds(
    model: torch.nn.Module, references: list[np.ndarray], ratio: float, seeds: list[int], grid: bool = False,
    refine: bool = False,
) -> Quality:
    """evaluate() averaged over several hint seeds: on a handful of validation photos, one draw of hints moves
    the figure by a few tenths of a dB, as much as the changes being compared."""
    runs = [evaluate(model, references, ratio, seed, grid, refine=refine) for seed in seeds]
    return Quality(float(np.mean([r.psnr for r in runs])), float(np.mean([r.ssim for r in runs])), len(references))


def main(argv: list[str] | None = None) -> int:
    """python -m msau.model.evaluate CKPT DIR: validation table at several hint ratios (for model cards)."""
    import argparse
    import sys

    from msau.model.checkpoint import load_checkpoint
    from msau.model.data import center_crop, load_folder

    parser = argparse.ArgumentParser(
        prog="python -m msau.model.evaluate",
        description="PSNR/SSIM of a checkpoint on centre crops of a photo folder at several hint ratios "
        "(hints sampled with seed + image index; sRGB uint8, per image, averaged).",
    )
    parser.add_argument("weights", help="checkpoint (.safetensors)")
    parser.add_argument("folder", help="folder of colour photos")
    parser.add_argument("--size", type=int, default=256, help="centre-crop size (shorter side resized to it first)")
    parser.add_argument("--ratios", default="0,0.001,0.005,0.01", help="comma-separated hint ratios")
    parser.add_argument(
        "--seeds", default="0",
        help="comma-separated hint seeds; figures are averaged over them (image i of seed s uses seed s + i, so "
        "space them by more than the number of photos, e.g. 0,100,200)",
    )
    args = parser.parse_args(argv)
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
        ratios = [float(ratio) for ratio in args.ratios.split(",")]
    except ValueError:
        parser.error(f"--seeds and --ratios take comma-separated numbers, got {args.seeds!r} and {args.ratios!r}")
    try:
        model, _ = load_checkpoint(args.weights)
        references = [center_crop(image, args.size) for image in load_folder(args.folder)]
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("| hints | grid | network PSNR (dB) | network SSIM | + hint propagation PSNR (dB) | + hint propagation SSIM |")
    print("|---|---|---|---|---|---|")
    for ratio in ratios:
        for grid in (False, True):
            raw = evaluate_over_seeds(model, references, ratio, seeds, grid)
            refined = evaluate_over_seeds(model, references, ratio, seeds, grid, refine=True)
            print(f"| {ratio * 100:g}% | {'7x7' if grid else '-'} | {raw.psnr:.2f} | {raw.ssim:.4f} | "
                  f"{refined.psnr:.2f} | {refined.ssim:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
