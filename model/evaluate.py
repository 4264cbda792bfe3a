"""Validation the way users are served: runtime encode -> network -> runtime decode, PSNR/SSIM on sRGB uint8."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from msau.runtime.encoding import decode, encode
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
) -> Quality:
    """Mean PSNR/SSIM of the model over RGB uint8 references (each its own size, multiple of 16).

    Hints are sampled from each reference with seed (seed + index), so figures are reproducible.
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
            result = decode(ab, lightness)
            psnrs.append(psnr(ref, result))
            ssims.append(ssim(ref, result))
    model.train(was_training)
    return Quality(float(np.mean(psnrs)), float(np.mean(ssims)), len(references))
