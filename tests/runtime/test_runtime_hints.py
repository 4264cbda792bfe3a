"""Hint files (JSON, painted RGBA PNG), their validation errors, rasterisation and sampling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from skimage import color as skcolor

from msau.runtime.contract import AB_SCALE
from msau.runtime.hints import (
    HintError,
    Hints,
    hints_from_rgba,
    load_hints,
    load_json_hints,
    load_png_hints,
    rasterize,
    sample_clicks,
    sample_hints,
)


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def expected_ab(rgb: list[int]) -> np.ndarray:
    """skimage's (a, b) of one uint8 colour, divided by the contract's scale."""
    return skcolor.rgb2lab(np.array(rgb, np.float64) / 255.0)[1:] / AB_SCALE


# --- JSON -------------------------------------------------------------------------------------------------


def test_json_hints_load(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "photo.json",
        {"hints": [{"x": 120, "y": 45, "rgb": [200, 30, 40]}, {"x": 3.5, "y": 0, "rgb": [0, 255, 9], "radius": 2}]},
    )
    hints = load_hints(path, image_size=(100, 200))
    assert len(hints) == 2
    np.testing.assert_array_equal(hints.xy, [[120, 45], [3.5, 0]])
    np.testing.assert_array_equal(hints.rgb, [[200, 30, 40], [0, 255, 9]])
    np.testing.assert_array_equal(hints.radius, [0, 2])
    assert hints.rgb.dtype == np.uint8


def test_json_empty_hint_list_gives_no_hints(tmp_path: Path) -> None:
    hints = load_json_hints(write_json(tmp_path / "none.json", {"hints": []}))
    assert len(hints) == 0
    assert hints.xy.shape == (0, 2) and hints.rgb.shape == (0, 3)


def test_json_round_trip(tmp_path: Path) -> None:
    hints = Hints(
        xy=np.array([[1, 2], [7.5, 3]], np.float32),
        rgb=np.array([[10, 20, 30], [255, 0, 128]], np.uint8),
        radius=np.array([0, 3], np.int32),
    )
    back = load_json_hints(write_json(tmp_path / "h.json", hints.to_json()))
    np.testing.assert_array_equal(back.xy, hints.xy)
    np.testing.assert_array_equal(back.rgb, hints.rgb)
    np.testing.assert_array_equal(back.radius, hints.radius)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"points": []}, 'expected an object {"hints"'),
        ([{"x": 1, "y": 1, "rgb": [1, 2, 3]}], 'expected an object {"hints"'),
        ({"hints": [{"x": 1, "rgb": [1, 2, 3]}]}, "hint 0 is missing 'y'"),
        ({"hints": [{"x": 1, "y": 1, "rgb": [1, 2, 3]}, {"y": 2}]}, "hint 1 is missing 'x', 'rgb'"),
        ({"hints": [{"x": 1, "y": 1, "rgb": [300, 0, 0]}]}, "hint 0: rgb [300, 0, 0] has a value outside 0-255"),
        ({"hints": [{"x": 1, "y": 1, "rgb": [0, -1, 0]}]}, "hint 0: rgb [0, -1, 0] has a value outside 0-255"),
        ({"hints": [{"x": 1, "y": 1, "rgb": [1.5, 0, 0]}]}, "hint 0: rgb must be a list of three integers, got [1.5, 0, 0]"),
        ({"hints": [{"x": 1, "y": 1, "rgb": [1, 2]}]}, "hint 0: rgb must be a list of three integers, got [1, 2]"),
        ({"hints": [{"x": 1, "y": 1, "rgb": "red"}]}, "hint 0: rgb must be a list of three integers, got 'red'"),
        ({"hints": [{"x": "1", "y": 1, "rgb": [1, 2, 3]}]}, "hint 0: x must be a finite number, got '1'"),
        ({"hints": [{"x": 1, "y": True, "rgb": [1, 2, 3]}]}, "hint 0: y must be a finite number, got True"),
        ({"hints": [{"x": 1, "y": 1, "rgb": [1, 2, 3], "radius": -1}]}, "hint 0: radius must be an integer in 0..1000000000, got -1"),
        ({"hints": [{"x": 1, "y": 1, "rgb": [1, 2, 3], "radius": 1.5}]}, "hint 0: radius must be an integer in 0..1000000000, got 1.5"),
        ({"hints": ["x=1"]}, "hint 0 must be an object with x, y and rgb, got str"),
    ],
)
def test_json_bad_values_name_the_file(tmp_path: Path, document: object, fragment: str) -> None:
    path = write_json(tmp_path / "bad.json", document)
    with pytest.raises(HintError) as caught:
        load_hints(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert fragment in message


def test_json_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"hints": [{"x": 1, "y": 2, ', encoding="utf-8")
    with pytest.raises(HintError, match=r"broken\.json: not valid JSON \(") as caught:
        load_hints(path)
    assert str(caught.value).startswith(str(path))


def test_missing_json_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(HintError, match=r"absent\.json: cannot read hint file"):
        load_hints(path)


def test_unknown_suffix_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "hints.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(HintError, match=r"hints\.txt: unknown hint format '\.txt'; use \.json or \.png"):
        load_hints(path)


@pytest.mark.parametrize(
    ("x", "y", "fragment"),
    [
        (200, 10, "hint 1 at (x=200, y=10) lies outside the 200x100 image"),
        (-1, 10, "hint 1 at (x=-1, y=10) lies outside the 200x100 image"),
        (5, 100, "hint 1 at (x=5, y=100) lies outside the 200x100 image"),
        (5, -0.5, "hint 1 at (x=5, y=-0.5) lies outside the 200x100 image"),
    ],
)
def test_points_outside_the_image_are_rejected(tmp_path: Path, x: float, y: float, fragment: str) -> None:
    path = write_json(tmp_path / "out.json", {"hints": [{"x": 199, "y": 99, "rgb": [1, 2, 3]}, {"x": x, "y": y, "rgb": [1, 2, 3]}]})
    load_hints(path)  # without an image size there is nothing to check against
    with pytest.raises(HintError) as caught:
        load_hints(path, image_size=(100, 200))
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert fragment in message
    assert "x must be in 0..199, y in 0..99" in message


# --- PNG --------------------------------------------------------------------------------------------------


def test_png_hints_are_the_painted_pixels(tmp_path: Path, save_png: Callable) -> None:
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., :3] = 77  # colour under transparent pixels is no hint
    rgba[3, 5] = (200, 30, 40, 255)
    rgba[10, 29] = (0, 128, 255, 1)  # any alpha > 0 is a hint
    path = save_png(tmp_path / "photo.png", rgba)
    hints = load_hints(path, image_size=(20, 30))
    order = np.lexsort((hints.xy[:, 0], hints.xy[:, 1]))
    np.testing.assert_array_equal(hints.xy[order], [[5, 3], [29, 10]])
    np.testing.assert_array_equal(hints.rgb[order], [[200, 30, 40], [0, 128, 255]])
    np.testing.assert_array_equal(hints.radius, [0, 0])


def test_png_16_bit_colours_are_scaled_to_8_bit(tmp_path: Path, save_png: Callable) -> None:
    rgba = np.zeros((8, 8, 4), np.uint16)
    rgba[2, 6] = (257 * 200, 65535, 0, 65535)
    hints = load_png_hints(save_png(tmp_path / "deep.png", rgba))
    np.testing.assert_array_equal(hints.xy, [[6, 2]])
    np.testing.assert_array_equal(hints.rgb, [[200, 255, 0]])


def test_png_without_alpha_is_rejected(tmp_path: Path, save_png: Callable) -> None:
    path = save_png(tmp_path / "flat.png", np.full((10, 10, 3), 128, np.uint8))
    with pytest.raises(HintError) as caught:
        load_hints(path)
    assert str(caught.value) == f"{path}: a hint PNG needs an alpha channel (RGBA); paint hints on a transparent layer"


def test_png_of_the_wrong_size_is_rejected(tmp_path: Path, save_png: Callable) -> None:
    path = save_png(tmp_path / "small.png", np.zeros((10, 20, 4), np.uint8))
    with pytest.raises(HintError) as caught:
        load_hints(path, image_size=(20, 30))
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "hint PNG is 20x10 but the image is 30x20" in message


def test_png_that_is_not_an_image_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(b"not a png at all")
    with pytest.raises(HintError, match=r"fake\.png: cannot read hint image"):
        load_hints(path)


# --- rasterisation ----------------------------------------------------------------------------------------


def test_rasterize_at_the_same_size() -> None:
    hints = Hints(np.array([[10, 5]], np.float32), np.array([[200, 30, 40]], np.uint8), np.array([0], np.int32))
    channels = rasterize(hints, (16, 32), (16, 32))
    assert channels.shape == (3, 16, 32) and channels.dtype == np.float32
    mask = channels[2]
    assert mask.sum() == 1 and mask[5, 10] == 1
    np.testing.assert_allclose(channels[:2, 5, 10], expected_ab([200, 30, 40]), atol=0.05 / AB_SCALE)
    assert np.count_nonzero(channels[:2]) == 2  # nothing outside the hint pixel


def test_rasterize_scales_coordinates_to_the_network_size() -> None:
    # Image 100 x 200 (H x W) -> network 16 x 32: factor 0.16 on both axes.
    xy = np.array([[0, 0], [199, 99], [100, 50], [63, 31]], np.float32)
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    channels = rasterize(Hints(xy, rgb, np.zeros(4, np.int32)), (100, 200), (16, 32))
    # pixel centre (x + 0.5) * 0.16, floored: 0 -> 0, 199 -> 31, 100 -> 16, 63 -> 10; y: 0, 15, 8, 5
    expected = {(0, 0): 0, (15, 31): 1, (8, 16): 2, (5, 10): 3}
    assert channels[2].sum() == 4
    for (row, col), index in expected.items():
        assert channels[2, row, col] == 1
        np.testing.assert_allclose(channels[:2, row, col], expected_ab(rgb[index].tolist()), atol=0.05 / AB_SCALE)


def test_rasterize_radius_paints_a_patch() -> None:
    hints = Hints(np.array([[10, 10], [0, 0]], np.float32), np.array([[200, 30, 40], [0, 0, 255]], np.uint8),
                  np.array([2, 1], np.int32))
    channels = rasterize(hints, (32, 32), (32, 32))
    mask = channels[2]
    assert mask[8:13, 8:13].all() and mask[8:13, 8:13].sum() == 25  # (2r+1)^2
    assert mask[0:2, 0:2].sum() == 4  # the corner patch is clipped to the image
    assert mask.sum() == 25 + 4
    np.testing.assert_allclose(channels[:2, 8:13, 8:13].reshape(2, -1).T, np.tile(expected_ab([200, 30, 40]), (25, 1)),
                               atol=0.05 / AB_SCALE)


def test_rasterize_scales_the_radius() -> None:
    # 64 x 64 image -> 32 x 32 network: radius 4 becomes 2, a 5 x 5 patch.
    hints = Hints(np.array([[32, 32]], np.float32), np.array([[10, 200, 10]], np.uint8), np.array([4], np.int32))
    mask = rasterize(hints, (64, 64), (32, 32))[2]
    assert mask.sum() == 25
    assert mask[14:19, 14:19].all()


def test_rasterize_averages_colliding_hints() -> None:
    # Two image pixels that fall on one network pixel (factor 0.5) average their Lab a and b.
    rgb = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    hints = Hints(np.array([[0, 0], [1, 1]], np.float32), rgb, np.zeros(2, np.int32))
    channels = rasterize(hints, (4, 4), (2, 2))
    assert channels[2].sum() == 1 and channels[2, 0, 0] == 1
    mean = (expected_ab([255, 0, 0]) + expected_ab([0, 0, 255])) / 2
    np.testing.assert_allclose(channels[:2, 0, 0], mean, atol=0.05 / AB_SCALE)


def test_rasterize_without_hints_is_all_zero() -> None:
    channels = rasterize(Hints.empty(), (10, 10), (16, 16))
    assert channels.shape == (3, 16, 16)
    assert not channels.any()


# --- sampling ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ratio", "height", "width"), [(0.005, 64, 96), (0.01, 256, 256), (0.0, 32, 32), (0.3, 10, 7)])
def test_sample_hints_count(make_image: Callable, ratio: float, height: int, width: int) -> None:
    reference = make_image(height, width)
    hints = sample_hints(reference, ratio, seed=3)
    assert len(hints) == round(ratio * height * width)
    assert len(sample_hints(reference, ratio, seed=3, grid=True)) == round(ratio * height * width) + 49


def test_sample_hints_take_the_reference_colours_at_distinct_pixels(make_image: Callable) -> None:
    reference = make_image(64, 96)
    hints = sample_hints(reference, 0.02, seed=5)
    xs, ys = hints.xy[:, 0].astype(int), hints.xy[:, 1].astype(int)
    np.testing.assert_array_equal(hints.xy, np.stack([xs, ys], axis=1))  # whole pixels
    np.testing.assert_array_equal(hints.rgb, reference[ys, xs])
    assert len(set(zip(xs.tolist(), ys.tolist()))) == len(hints)
    hints.validate(64, 96)


def test_sample_hints_are_reproducible(make_image: Callable) -> None:
    reference = make_image(64, 64)
    first, second = sample_hints(reference, 0.01, seed=11), sample_hints(reference, 0.01, seed=11)
    np.testing.assert_array_equal(first.xy, second.xy)
    np.testing.assert_array_equal(first.rgb, second.rgb)
    other = sample_hints(reference, 0.01, seed=12)
    assert not np.array_equal(first.xy, other.xy)


def test_sample_hints_grid_is_a_fixed_7x7_grid(make_image: Callable) -> None:
    reference = make_image(70, 140)
    grid = sample_hints(reference, 0.0, seed=0, grid=True)
    assert sorted(set(grid.xy[:, 1].astype(int).tolist())) == [5, 15, 25, 35, 45, 55, 65]
    assert sorted(set(grid.xy[:, 0].astype(int).tolist())) == [10, 30, 50, 70, 90, 110, 130]


def test_hints_from_rgba_array() -> None:
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[4, 0] = (1, 2, 3, 9)
    hints = hints_from_rgba(rgba)
    np.testing.assert_array_equal(hints.xy, [[0, 4]])
    np.testing.assert_array_equal(hints.rgb, [[1, 2, 3]])


def test_sample_clicks_take_the_patch_mean() -> None:
    reference = np.zeros((20, 20, 3), np.uint8)
    reference[:, 10:] = (200, 100, 0)  # left half black, right half orange
    hints = sample_clicks(reference, 200, seed=3)
    assert len(hints) == 200 and hints.radius.max() <= 4
    for (x, y), rgb, r in zip(hints.xy.astype(int), hints.rgb, hints.radius):
        patch = reference[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
        np.testing.assert_allclose(rgb, patch.reshape(-1, 3).mean(axis=0), atol=0.5)
    assert np.array_equal(sample_clicks(reference, 5, seed=1).xy, sample_clicks(reference, 5, seed=1).xy)


def _rasterize_by_expanding(hints: Hints, image_size: tuple[int, int], net_size: tuple[int, int]) -> np.ndarray:
    """The definition of rasterize, pixel by pixel: each hint paints its clipped patch, overlaps averaged."""
    out_h, out_w = net_size
    sx, sy = out_w / image_size[1], out_h / image_size[0]
    total, count = np.zeros((2, out_h, out_w)), np.zeros((out_h, out_w))
    ab = skcolor.rgb2lab(hints.rgb[None].astype(np.float64) / 255.0)[0, :, 1:] / AB_SCALE
    for (x, y), r, value in zip(hints.xy, hints.radius, ab):
        cx = min(max(int(np.floor((x + 0.5) * sx)), 0), out_w - 1)
        cy = min(max(int(np.floor((y + 0.5) * sy)), 0), out_h - 1)
        r = int(round(r * min(sx, sy)))
        patch = (slice(max(cy - r, 0), cy + r + 1), slice(max(cx - r, 0), cx + r + 1))
        total[(slice(None),) + patch] += value[:, None, None]
        count[patch] += 1
    expected = np.zeros((3, out_h, out_w), np.float32)
    hit = count > 0
    expected[:2, hit] = total[:, hit] / count[hit]
    expected[2, hit] = 1
    return expected


def test_rasterize_overlapping_patches_average_as_painted_pixel_by_pixel(rng: np.random.Generator) -> None:
    hints = Hints(
        xy=rng.uniform(0, 199, size=(40, 2)).astype(np.float32),
        rgb=rng.integers(0, 256, size=(40, 3)).astype(np.uint8),
        radius=rng.integers(0, 30, size=40).astype(np.int32),
    )
    got = rasterize(hints, (150, 200), (48, 64))
    np.testing.assert_array_equal(got[2], _rasterize_by_expanding(hints, (150, 200), (48, 64))[2])
    np.testing.assert_allclose(got, _rasterize_by_expanding(hints, (150, 200), (48, 64)), atol=2e-4)


def test_rasterize_single_pixels_match_painting_pixel_by_pixel(rng: np.random.Generator) -> None:
    # Single pixels take the bincount path; many land on one network pixel, where they must be averaged.
    hints = Hints(
        xy=rng.uniform(0, 199, size=(300, 2)).astype(np.float32),
        rgb=rng.integers(0, 256, size=(300, 3)).astype(np.uint8),
        radius=np.zeros(300, np.int32),
    )
    got = rasterize(hints, (150, 200), (48, 64))
    expected = _rasterize_by_expanding(hints, (150, 200), (48, 64))
    assert (expected[2] > 0).sum() < 300  # collisions happened
    np.testing.assert_array_equal(got[2], expected[2])
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_rasterize_costs_the_network_grid_whatever_the_radii() -> None:
    # 2,000 hints of radius 1e9 once expanded to 2,000 x 256^2 pixels (8 GB); now two (257, 257) tables.
    count = 2000
    hints = Hints(
        xy=np.full((count, 2), 50, np.float32), rgb=np.full((count, 3), (200, 30, 40), np.uint8),
        radius=np.full(count, 1_000_000_000, np.int32),
    )
    channels = rasterize(hints, (100, 100), (256, 256))
    assert channels[2].min() == 1.0  # every pixel painted
    np.testing.assert_allclose(channels[:2], rasterize(Hints(hints.xy[:1], hints.rgb[:1], hints.radius[:1]), (100, 100), (256, 256))[:2], atol=1e-6)


@pytest.mark.parametrize("text", ['{"hints": [{"x": NaN, "y": NaN, "rgb": [1, 2, 3]}]}',
                                  '{"hints": [{"x": Infinity, "y": 1, "rgb": [1, 2, 3]}]}',
                                  '{"hints": [{"x": 1e999, "y": 1, "rgb": [1, 2, 3]}]}'])
def test_json_nan_and_infinite_coordinates_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "nan.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HintError, match=rf"^{path}: hint 0: x must be a finite number, got (nan|inf)$"):
        load_json_hints(path)


def test_nan_coordinates_in_a_hints_object_lie_outside_the_image() -> None:
    hints = Hints(np.array([[np.nan, np.nan]], np.float32), np.zeros((1, 3), np.uint8), np.zeros(1, np.int32))
    with pytest.raises(HintError, match=r"^api: hint 0 at \(x=nan, y=nan\) lies outside the 8x4 image"):
        hints.validate(4, 8, "api")


def test_json_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"hints": [{"x": 1, "y": 2, "rgb": [3, 4, 5]}]}).encode())
    assert load_json_hints(path).xy.tolist() == [[1.0, 2.0]]


def test_too_many_hints_and_too_big_a_file_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import msau.runtime.hints as hints_module

    monkeypatch.setattr(hints_module, "MAX_HINTS", 2)
    path = write_json(tmp_path / "many.json", {"hints": [{"x": 0, "y": 0, "rgb": [0, 0, 0]}] * 3})
    with pytest.raises(HintError, match=rf"^{path}: 3 hints is over the limit of 2 per image$"):
        load_json_hints(path)
    painted = np.full((2, 2, 4), 255, np.uint8)
    with pytest.raises(HintError, match=r"^painted hints: 4 hints is over the limit of 2 per image$"):
        hints_from_rgba(painted)
    monkeypatch.setattr(hints_module, "MAX_HINT_FILE_BYTES", 10)
    with pytest.raises(HintError, match=rf"^{path}: hint file of \d+ bytes is over the limit of 10$"):
        load_json_hints(path)


def test_png_of_the_wrong_size_is_refused_before_decoding(tmp_path: Path, png_bomb: Callable) -> None:
    path = png_bomb(tmp_path / "big.png", 30000, 30000)
    with pytest.raises(HintError, match=rf"^{path}: hint PNG is 30000x30000 but the image is 8x4;"):
        load_hints(path, (4, 8))


def test_the_bulk_check_parses_as_the_hint_by_hint_one():
    from msau.runtime.hints import parse_hints_document

    items = [{"x": 3, "y": 4.5, "rgb": [255, 0, 17]}, {"x": 0.25, "y": 0, "rgb": [1, 2, 3], "radius": 2}]
    bulk = parse_hints_document({"hints": items})
    # A numpy float is a float to the hint-by-hint check, not to the bulk one: the same hints, the other path.
    one_by_one = parse_hints_document({"hints": [dict(items[0], x=np.float64(3.0)), items[1]]})
    for hints in (bulk, one_by_one):
        np.testing.assert_array_equal(hints.xy, [[3, 4.5], [0.25, 0]])
        np.testing.assert_array_equal(hints.rgb, [[255, 0, 17], [1, 2, 3]])
        np.testing.assert_array_equal(hints.radius, [0, 2])
    assert bulk.xy.dtype == np.float32 and bulk.rgb.dtype == np.uint8 and bulk.radius.dtype == np.int32


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"x": True, "y": 1, "rgb": [1, 2, 3]}, "hint 1: x must be a finite number, got True"),
        ({"x": 1, "y": 10**400, "rgb": [1, 2, 3]}, "hint 1: y must be a finite number, got 1000"),
        ({"x": 1, "y": 1, "rgb": [1, False, 3]}, "hint 1: rgb must be a list of three integers, got [1, False, 3]"),
        ({"x": 1, "y": 1, "rgb": [1, 2, 256]}, "hint 1: rgb [1, 2, 256] has a value outside 0-255"),
        ({"x": 1, "y": 1, "rgb": [1, 2, 3], "radius": -1}, "hint 1: radius must be an integer in 0.."),
        ({"y": 1, "rgb": [1, 2, 3]}, "hint 1 is missing 'x'"),
    ],
)
def test_a_bad_hint_after_good_ones_is_named(bad, message):
    from msau.runtime.hints import HintError, parse_hints_document

    with pytest.raises(HintError) as error:
        parse_hints_document({"hints": [{"x": 0, "y": 0, "rgb": [0, 0, 0]}, bad]}, "h.json")
    assert str(error.value).startswith(f"h.json: {message}")
