"""PSNR and SSIM against skimage.metrics on uint8 images."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from msau.runtime.metrics import psnr, ssim


def noisy_pair(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    reference = rng.integers(0, 256, size=shape).astype(np.uint8)
    result = np.clip(reference + rng.normal(0, sigma, size=shape), 0, 255).astype(np.uint8)
    return reference, result


@pytest.mark.parametrize("shape", [(40, 56, 3), (33, 47, 3), (40, 56)])
@pytest.mark.parametrize("sigma", [3.0, 40.0])
def test_psnr_matches_skimage(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> None:
    reference, result = noisy_pair(rng, shape, sigma)
    expected = peak_signal_noise_ratio(reference, result, data_range=255)
    assert abs(psnr(reference, result) - expected) < 1e-6


@pytest.mark.parametrize("shape", [(40, 56, 3), (33, 47, 3), (40, 56)])
@pytest.mark.parametrize("sigma", [3.0, 40.0])
def test_ssim_matches_skimage(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> None:
    reference, result = noisy_pair(rng, shape, sigma)
    channel_axis = 2 if len(shape) == 3 else None
    expected = structural_similarity(reference, result, data_range=255, channel_axis=channel_axis)
    assert abs(ssim(reference, result) - expected) < 1e-4


def test_identical_images() -> None:
    image = np.full((16, 16, 3), 77, np.uint8)
    assert psnr(image, image) == float("inf")
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)


def test_psnr_known_value() -> None:
    # Every pixel off by 1: MSE 1, PSNR = 10 log10(255^2) = 48.1308... dB.
    reference = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(reference, reference + 1) == pytest.approx(20 * np.log10(255), abs=1e-9)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"images differ in shape: \(8, 8, 3\) vs \(8, 9, 3\)"):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(ValueError, match="images differ in shape"):
        ssim(np.zeros((8, 8), np.uint8), np.zeros((9, 8), np.uint8))
