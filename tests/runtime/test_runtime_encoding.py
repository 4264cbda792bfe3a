"""encode/decode: the contract tensor built from a photo and hints, and the colour image rebuilt from ab."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from msau.runtime import contract
from msau.runtime.color import image_lightness, rgb_to_lab
from msau.runtime.encoding import center_crop, decode, encode, encode_lightness, resize
from msau.runtime.hints import Hints, rasterize, sample_hints
from msau.runtime.metrics import psnr


def true_ab(image: np.ndarray) -> np.ndarray:
    """The contract output (2, H, W) that reproduces an RGB uint8 image exactly."""
    return np.ascontiguousarray((rgb_to_lab(image)[..., 1:] / contract.AB_SCALE).transpose(2, 0, 1))


def test_encode_shapes_and_channels(make_image: Callable) -> None:
    image = make_image(60, 90)
    hints = sample_hints(image, 0.01, seed=0)
    x, lightness = encode(image, hints, (32, 48))
    assert x.shape == (contract.INPUT_CHANNELS, 32, 48) and x.dtype == np.float32
    assert lightness.shape == (60, 90) and lightness.dtype == np.float32
    np.testing.assert_allclose(lightness, image_lightness(image), atol=1e-5)
    np.testing.assert_allclose(x[contract.CHANNEL_L], resize(lightness, 32, 48) / contract.L_SCALE, atol=1e-6)
    assert 0.0 <= x[contract.CHANNEL_L].min() and x[contract.CHANNEL_L].max() <= 1.0
    hint_channels = rasterize(hints, (60, 90), (32, 48))
    np.testing.assert_array_equal(x[[contract.CHANNEL_A_HINT, contract.CHANNEL_B_HINT, contract.CHANNEL_MASK]], hint_channels)
    assert set(np.unique(x[contract.CHANNEL_MASK]).tolist()) == {0.0, 1.0}


def test_encode_without_hints_has_empty_hint_channels(make_image: Callable) -> None:
    x, _ = encode(make_image(32, 32), None, (32, 32))
    assert not x[1:].any()


def test_encode_gray_image(make_image: Callable) -> None:
    gray = make_image(32, 48)[..., 1]
    x, lightness = encode(gray, Hints.empty(), (32, 48))
    np.testing.assert_allclose(x[0] * contract.L_SCALE, image_lightness(np.dstack([gray] * 3)), atol=1e-3)
    assert lightness.shape == (32, 48)


@pytest.mark.parametrize("size", [(30, 32), (32, 40), (0, 16)])
def test_encode_rejects_sizes_off_the_multiple(make_image: Callable, size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        encode_lightness(np.zeros((40, 40), np.float32), None, size)


def test_decode_shape_and_dtype(rng: np.random.Generator) -> None:
    ab = rng.uniform(-0.5, 0.5, size=(2, 16, 32)).astype(np.float32)
    lightness = rng.uniform(0, 100, size=(50, 70)).astype(np.float32)
    rgb = decode(ab, lightness)
    assert rgb.shape == (50, 70, 3) and rgb.dtype == np.uint8


def test_decode_of_encode_with_true_ab_gives_the_image_back(make_image: Callable) -> None:
    image = make_image(64, 96, seed=2)
    x, lightness = encode(image, None, (64, 96))
    result = decode(true_ab(image), lightness)
    assert np.abs(result.astype(np.int16) - image).max() <= 2
    assert psnr(image, result) > 40.0


def test_decode_upsamples_smooth_ab_from_the_network_size(rng: np.random.Generator) -> None:
    # A smooth colour field survives a 2x down/up sampling of its ab almost exactly.
    yy, xx = np.mgrid[0:64, 0:96] / 64.0
    image = (np.dstack([0.2 + 0.6 * xx / 1.5, 0.3 + 0.4 * yy, 0.8 - 0.5 * yy]) * 255 + 0.5).astype(np.uint8)
    _, lightness = encode(image, None, (32, 48))
    ab_small = resize(np.ascontiguousarray(true_ab(image).transpose(1, 2, 0)), 32, 48).transpose(2, 0, 1)
    result = decode(ab_small, lightness)
    assert result.shape == image.shape
    assert psnr(image, result) > 40.0


def test_resize_identity_shrink_and_enlarge(rng: np.random.Generator) -> None:
    plane = rng.random((8, 8)).astype(np.float32)
    assert resize(plane, 8, 8) is plane
    shrunk = resize(plane, 4, 4)
    np.testing.assert_allclose(shrunk, plane.reshape(4, 2, 4, 2).mean(axis=(1, 3)), atol=1e-6)  # area average
    assert resize(plane, 16, 24).shape == (16, 24)


def test_center_crop_scales_the_shorter_side_then_cuts_the_middle(make_image: Callable) -> None:
    image = make_image(96, 128)
    np.testing.assert_array_equal(center_crop(image, 96), image[:, 16:112])
    wide = make_image(64, 128, seed=3)  # H x W
    np.testing.assert_array_equal(center_crop(wide, 32), resize(wide, 32, 64)[:, 16:48])
    assert center_crop(make_image(100, 40, seed=4), 32).shape == (32, 32, 3)
