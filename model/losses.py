"""MS-SSIM + L1 mix (Zhao et al. 2016, "Loss Functions for Image Restoration with Neural Networks")."""

from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim


def _window_for(size: int) -> int:
    # pytorch-msssim needs the shorter side > (win - 1) * 16 for its four downsamplings.
    for window in (11, 7, 5, 3):
        if size > (window - 1) * 16:
            return window
    raise ValueError(f"MS-SSIM needs images larger than 32 pixels, got {size}")


def msssim_l1_loss(prediction: torch.Tensor, target: torch.Tensor, alpha: float = 0.84) -> torch.Tensor:
    """alpha * (1 - MS-SSIM) + (1 - alpha) * L1 on ab/110 maps (N, 2, H, W), computed in float32.

    MS-SSIM is taken on the maps shifted to [0, 1] (ab/110 lies in about [-1, 1]).
    """
    prediction = prediction.float()
    target = target.float()
    l1 = (prediction - target).abs().mean()
    if alpha == 0:
        return l1
    window = _window_for(min(prediction.shape[-2:]))
    similarity = ms_ssim((prediction + 1) / 2, (target + 1) / 2, data_range=1.0, win_size=window)
    return alpha * (1 - similarity) + (1 - alpha) * l1
