"""sRGB <-> CIE Lab against skimage.color, gray / 16-bit / RGBA inputs, uint8 round trip."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage import color as skcolor

from msau.runtime import color

LAB_TOLERANCE = 0.05  # the bound, in Lab units


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgb_to_lab_matches_skimage_on_integer_colours(rng: np.random.Generator, dtype: type) -> None:
    top = np.iinfo(dtype).max
    rgb = rng.integers(0, top + 1, size=(4000, 3)).astype(dtype)
    expected = skcolor.rgb2lab(rgb.astype(np.float64) / top)
    lab = color.rgb_to_lab(rgb)
    assert lab.dtype == np.float32
    assert lab.shape == (4000, 3)
    np.testing.assert_allclose(lab, expected, atol=LAB_TOLERANCE, rtol=0)


def test_rgb_to_lab_matches_skimage_on_float_images(rng: np.random.Generator) -> None:
    rgb = rng.random((17, 23, 3))
    np.testing.assert_allclose(color.rgb_to_lab(rgb), skcolor.rgb2lab(rgb), atol=LAB_TOLERANCE, rtol=0)


def test_rgb_to_lab_endpoints() -> None:
    lab = color.rgb_to_lab(np.array([[0, 0, 0], [255, 255, 255]], np.uint8))
    np.testing.assert_allclose(lab, [[0, 0, 0], [100, 0, 0]], atol=0.01)


def test_lab_to_rgb_matches_skimage(rng: np.random.Generator) -> None:
    # Colours inside the gamut (from real RGB) and outside it (random Lab), which both sides clip.
    inside = skcolor.rgb2lab(rng.random((2000, 3)))
    outside = np.stack(
        [rng.uniform(0, 100, 2000), rng.uniform(-110, 110, 2000), rng.uniform(-110, 110, 2000)], axis=-1
    )
    lab = np.concatenate([inside, outside])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about the out-of-gamut values it clips
        expected = skcolor.lab2rgb(lab)
    rgb = color.lab_to_rgb(lab)
    assert rgb.dtype == np.float32
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    # OpenCV's gamma table and white point to 5 digits: within a fifth of one uint8 step.
    np.testing.assert_allclose(rgb, expected, atol=1e-3, rtol=0)
    assert np.abs(rgb - expected).mean() < 3e-5


def test_banded_conversions_equal_whole_ones_and_leave_inputs_alone(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = np.stack([rng.uniform(0, 100, (37, 41)), rng.uniform(-90, 90, (37, 41)), rng.uniform(-90, 90, (37, 41))], -1)
    lab = lab.astype(np.float32)
    rgb = rng.integers(0, 256, size=(37, 41, 4)).astype(np.uint8)
    before = lab.copy()
    whole = color.lab_to_rgb_uint8(lab), color.lab_to_rgb(lab), color.lightness(rgb)
    monkeypatch.setattr(color, "BAND_PIXELS", 100)  # 16 bands, the last one short
    banded = color.lab_to_rgb_uint8(lab), color.lab_to_rgb(lab), color.lightness(rgb)
    # OpenCV's vector and scalar paths (full blocks and short rows) may differ in the last float bit.
    assert np.abs(whole[0].astype(np.int16) - banded[0]).max() <= 1
    np.testing.assert_allclose(banded[1], whole[1], atol=1e-6, rtol=0)
    np.testing.assert_allclose(banded[2], whole[2], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(lab, before)
    joined = color.join_lab_to_rgb_uint8(np.ascontiguousarray(lab[..., 0]), np.ascontiguousarray(lab[..., 1:].transpose(2, 0, 1)))
    assert np.abs(joined.astype(np.int16) - whole[0]).max() <= 1


def test_uint8_output_within_one_level_of_skimage(rng: np.random.Generator) -> None:
    lab = np.stack([rng.uniform(0, 100, 20000), rng.uniform(-110, 110, 20000), rng.uniform(-110, 110, 20000)], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = (skcolor.lab2rgb(lab) * 255 + 0.5).astype(np.int16)
    difference = np.abs(color.lab_to_rgb_uint8(lab).astype(np.int16) - expected)
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.01


def test_uint8_round_trip_within_one_level(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, size=(200_000, 3)).astype(np.uint8)
    back = color.lab_to_rgb_uint8(color.rgb_to_lab(rgb))
    assert back.dtype == np.uint8
    difference = np.abs(back.astype(np.int16) - rgb)
    assert difference.max() <= 1
    assert (difference > 0).mean() < 1e-3  # exact for practically every colour


def test_uint16_round_trip_within_one_uint8_level(rng: np.random.Generator) -> None:
    rgb16 = rng.integers(0, 65536, size=(5000, 3)).astype(np.uint16)
    back = color.lab_to_rgb(color.rgb_to_lab(rgb16))
    assert np.abs(back - rgb16 / 65535.0).max() < 1 / 255


def test_gray_lightness_is_lightness_of_equal_channels() -> None:
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected = color.rgb_to_lab(np.repeat(gray[:, :, None], 3, axis=2))
    assert np.abs(expected[..., 1:]).max() < 0.01  # (v, v, v) is neutral: a = b = 0
    for image in (gray, gray[:, :, None], np.repeat(gray[:, :, None], 3, axis=2)):
        np.testing.assert_allclose(color.image_lightness(image), expected[..., 0], atol=1e-3, rtol=0)
    np.testing.assert_allclose(
        color.gray_lightness(gray), skcolor.rgb2lab(np.repeat(gray[:, :, None], 3, axis=2) / 255.0)[..., 0], atol=0.05
    )


def test_gray_16_bit_lightness(rng: np.random.Generator) -> None:
    gray16 = rng.integers(0, 65536, size=(8, 9)).astype(np.uint16)
    expected = skcolor.rgb2lab(np.repeat(gray16[:, :, None], 3, axis=2) / 65535.0)[..., 0]
    lightness = color.image_lightness(gray16)
    assert lightness.shape == (8, 9)
    np.testing.assert_allclose(lightness, expected, atol=LAB_TOLERANCE, rtol=0)


def test_rgba_alpha_is_ignored(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, size=(10, 12, 3)).astype(np.uint8)
    rgba_a = np.concatenate([rgb, np.zeros((10, 12, 1), np.uint8)], axis=2)
    rgba_b = np.concatenate([rgb, rng.integers(0, 256, size=(10, 12, 1)).astype(np.uint8)], axis=2)
    expected = color.image_lightness(rgb)
    np.testing.assert_allclose(expected, color.rgb_to_lab(rgb)[..., 0], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(color.image_lightness(rgba_a), expected)
    np.testing.assert_array_equal(color.image_lightness(rgba_b), expected)
    np.testing.assert_array_equal(color.as_rgb(rgba_b), rgb)


def test_lightness_alone_matches_full_conversion(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, size=(9, 7, 3)).astype(np.uint8)
    np.testing.assert_allclose(color.lightness(rgb), color.rgb_to_lab(rgb)[..., 0], atol=1e-4, rtol=0)


def test_as_rgb_shapes_and_errors() -> None:
    assert color.as_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert color.as_rgb(np.zeros((4, 5, 1), np.uint16)).dtype == np.uint16
    with pytest.raises(ValueError, match=r"expected an image of shape .*got \(4, 5, 2\)"):
        color.as_rgb(np.zeros((4, 5, 2), np.uint8))


def test_unsupported_dtype_is_rejected() -> None:
    with pytest.raises(TypeError, match="unsupported image dtype int32"):
        color.rgb_to_lab(np.zeros((2, 3), np.int32))
