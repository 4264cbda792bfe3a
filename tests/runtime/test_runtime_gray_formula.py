"""Gray formulas: which one made a gray photo, told by its hints, and output that keeps a luma-made gray."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from msau.runtime.color import gray_lightness, join_lab_to_rgb_uint8, rgb_to_lab
from msau.runtime.gray_formula import (
    GRAY_FROM_CHOICES,
    LIGHTNESS,
    LUMA_WEIGHTS,
    MIN_HINTS,
    detect,
    gray_levels,
    is_gray,
    luma_lightness,
    resolve,
)
from msau.runtime.hints import Hints, sample_clicks, sample_hints


def luma_gray(rgb: np.ndarray, formula: str) -> np.ndarray:
    """A gray photo (H, W) uint8 made by a luma formula, rounded as image tools round it."""
    return np.rint(rgb.astype(np.float64) @ np.asarray(LUMA_WEIGHTS[formula])).astype(np.uint8)


def contract_gray(rgb: np.ndarray) -> np.ndarray:
    """A gray photo (H, W) uint8 whose (v, v, v) has each pixel's L*: the gray DESIGN.md's contract reads."""
    return np.rint(gray_levels(rgb.reshape(-1, 3), LIGHTNESS) * 255).astype(np.uint8).reshape(rgb.shape[:2])


@pytest.fixture
def photo(make_image) -> np.ndarray:
    return make_image(96, 128, seed=3)


def test_gray_levels_of_the_contract_give_back_the_colours_lightness(photo):
    levels = contract_gray(photo)
    difference = np.abs(gray_lightness(levels) - rgb_to_lab(photo)[..., 0])
    assert difference.max() < 0.3  # half a gray level in L*


def test_opencv_and_pillow_grays_are_rec601_luma(photo):
    from PIL import Image

    opencv = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(int)
    pillow = np.asarray(Image.fromarray(photo).convert("L")).astype(int)
    assert np.abs(opencv - luma_gray(photo, "rec601")).max() <= 1
    assert np.abs(pillow - luma_gray(photo, "rec601")).max() <= 1


@pytest.mark.parametrize("formula", ["rec601", "rec709"])
@pytest.mark.parametrize("ratio", [0.001, 0.005])
def test_hints_from_the_colour_original_tell_a_luma_gray(photo, formula, ratio):
    gray = luma_gray(photo, formula)
    hints = sample_hints(photo, max(ratio, MIN_HINTS / photo[..., 0].size), seed=1)
    assert detect(gray_lightness(gray), hints) == formula


def test_hints_from_the_colour_original_keep_the_contract_for_a_contract_gray(photo):
    hints = sample_hints(photo, 0.005, seed=1)
    assert detect(gray_lightness(contract_gray(photo)), hints) == LIGHTNESS


def test_opencv_gray_is_told_as_rec601(photo):
    hints = sample_hints(photo, 0.005, seed=2)
    assert detect(gray_lightness(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)), hints) == "rec601"


def test_hints_picked_by_eye_keep_the_contract(photo):
    """Colours that do not come from the photo fit no formula: the contract stands."""
    hints = sample_hints(photo, 0.01, seed=1)
    shifted = np.random.default_rng(0).integers(-40, 41, hints.rgb.shape)
    by_eye = Hints(hints.xy, np.clip(hints.rgb.astype(int) + shifted, 0, 255).astype(np.uint8), hints.radius)
    assert detect(gray_lightness(luma_gray(photo, "rec601")), by_eye) == LIGHTNESS


def test_too_few_or_patch_hints_keep_the_contract(photo):
    gray = gray_lightness(luma_gray(photo, "rec601"))
    few = sample_hints(photo, 0.01, seed=1)
    few = Hints(few.xy[: MIN_HINTS - 1], few.rgb[: MIN_HINTS - 1], few.radius[: MIN_HINTS - 1])
    assert detect(gray, few) == LIGHTNESS
    clicks = sample_clicks(photo, 30, seed=1)
    patches = Hints(clicks.xy, clicks.rgb, np.maximum(clicks.radius, 1))  # patch means: no single pixel to read
    assert detect(gray, patches) == LIGHTNESS


def test_resolve_keeps_colour_photos_and_takes_an_explicit_formula(photo):
    gray = luma_gray(photo, "rec601")
    hints = sample_hints(photo, 0.005, seed=1)
    assert resolve("auto", lambda: False, gray_lightness(gray), hints) == LIGHTNESS
    assert resolve("auto", lambda: True, gray_lightness(gray), hints) == "rec601"
    assert resolve("rec709", lambda: True, gray_lightness(gray), Hints.empty()) == "rec709"
    with pytest.raises(ValueError, match=r"unknown gray formula 'luma'; choose one of auto, lightness, rec601, rec709"):
        resolve("luma", lambda: True, gray_lightness(gray), hints)
    assert GRAY_FROM_CHOICES == ("auto", "lightness", "rec601", "rec709")
    assert is_gray(gray) and is_gray(gray[..., None]) and not is_gray(photo)
    saved_as_rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    assert is_gray(saved_as_rgba) and is_gray(saved_as_rgba[..., :3])


@pytest.mark.parametrize("formula", ["rec601", "rec709"])
def test_luma_lightness_gives_the_gray_back_under_its_formula(photo, formula):
    """Joined with the photo's own a*b*, the L* found gives the colour original back (but where a gray level spans
    several colours: one level of luma is nine of blue); with other a*b*, a colour whose luma is the gray's."""
    gray = luma_gray(photo, formula)
    own_ab = np.ascontiguousarray(np.moveaxis(rgb_to_lab(photo)[..., 1:], -1, 0)).astype(np.float32)  # (2, H, W)
    rebuilt = join_lab_to_rgb_uint8(luma_lightness(gray_lightness(gray), own_ab, LUMA_WEIGHTS[formula]), own_ab)
    off = np.abs(rebuilt.astype(int) - photo)
    assert off.mean() < 0.3 and np.mean(off > 2) < 0.01, (off.mean(), np.mean(off > 2))
    as_contract = join_lab_to_rgb_uint8(gray_lightness(gray), own_ab)  # the contract's reading, for scale
    assert np.abs(as_contract.astype(int) - photo).mean() > 5

    muted = own_ab * np.float32(0.5)
    result = join_lab_to_rgb_uint8(luma_lightness(gray_lightness(gray), muted, LUMA_WEIGHTS[formula]), muted)
    luma_off = np.abs(luma_gray(result, formula).astype(int) - gray)
    assert np.mean(luma_off > 1) < 0.01 and luma_off.mean() < 0.1, (np.mean(luma_off > 1), luma_off.mean())


def test_luma_lightness_works_in_bands(photo, monkeypatch):
    """A photo converted in several bands of rows gets what it gets in one."""
    import msau.runtime.gray_formula as gray_formula

    gray = gray_lightness(luma_gray(photo, "rec601"))
    ab = np.ascontiguousarray(np.moveaxis(rgb_to_lab(photo)[..., 1:], -1, 0)).astype(np.float32)
    whole = luma_lightness(gray, ab, LUMA_WEIGHTS["rec601"])
    monkeypatch.setattr(gray_formula, "BAND_PIXELS", 128 * 7)
    np.testing.assert_allclose(luma_lightness(gray, ab, LUMA_WEIGHTS["rec601"]), whole, atol=1e-4)
