"""PSNR and SSIM on sRGB uint8 images, as skimage.metrics defines them (numpy + OpenCV, no skimage needed)."""

from __future__ import annotations

import cv2
import numpy as np


def psnr(reference: np.ndarray, result: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (skimage.metrics.peak_signal_noise_ratio); inf for identical images."""
    if reference.shape != result.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {result.shape}")
    mse = np.mean((reference.astype(np.float64) - result.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))


def ssim(reference: np.ndarray, result: np.ndarray, data_range: float = 255.0, win_size: int = 7) -> float:
    """Mean structural similarity (skimage.metrics.structural_similarity defaults: 7x7 uniform window,
    sample covariance, K1=0.01, K2=0.03), averaged over channels for (H, W, C) images."""
    if reference.shape != result.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {result.shape}")
    if reference.ndim == 3:
        return float(np.mean([ssim(reference[..., c], result[..., c], data_range, win_size) for c in range(reference.shape[2])]))
    x = reference.astype(np.float64)
    y = result.astype(np.float64)
    count = win_size**2
    cov_norm = count / (count - 1)

    def mean(plane: np.ndarray) -> np.ndarray:
        return cv2.blur(plane, (win_size, win_size), borderType=cv2.BORDER_REFLECT)

    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())
