"""Training data: folder scanning, unreadable files, crops, hint sampling, reproducible batches."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from msau.model.data import (
    HintSampling,
    TrainingSampler,
    find_images,
    load_folder,
    make_example,
    random_crop,
    rotate_hue,
)
from msau.runtime import contract
from msau.runtime.color import rgb_to_lab


def test_find_images_is_recursive_sorted_and_filtered(image_folder: Path) -> None:
    (image_folder / "notes.txt").write_text("not an image", encoding="utf-8")
    (image_folder / "UPPER.JPG").write_bytes(b"")
    found = find_images(image_folder)
    names = [p.relative_to(image_folder).as_posix() for p in found]
    assert names == ["UPPER.JPG", "more/photo3.png", "photo0.png", "photo1.png", "photo2.png"]


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty: no images found \(looked for \.png, \.jpg, .*, \.gif, recursively\)"):
        find_images(tmp_path / "empty")


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nowhere: not a folder of images"):
        find_images(tmp_path / "nowhere")


def test_unreadable_file_is_skipped_with_a_warning_naming_it(image_folder: Path) -> None:
    broken = image_folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not really a JPEG")
    empty = image_folder / "empty.png"
    empty.write_bytes(b"")
    with pytest.warns(UserWarning) as caught:
        images = load_folder(image_folder)
    messages = sorted(str(w.message) for w in caught)
    assert messages == [f"{broken}: cannot decode image, skipped", f"{empty}: cannot decode image, skipped"]
    assert len(images) == 4
    assert all(image.shape == (96, 128, 3) and image.dtype == np.uint8 for image in images)


def test_folder_of_only_unreadable_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="a.png: cannot decode image"):
        with pytest.raises(ValueError, match="none of the images could be read"):
            load_folder(tmp_path)


def test_images_are_read_as_rgb_and_shrunk(tmp_path: Path, make_image: Callable, save_png: Callable) -> None:
    image = make_image(96, 128)
    save_png(tmp_path / "a.png", image)
    [same] = load_folder(tmp_path)
    np.testing.assert_array_equal(same, image)  # RGB order, lossless
    [shrunk] = load_folder(tmp_path, max_side=64)
    assert shrunk.shape == (48, 64, 3)


def test_random_crop_size_and_reproducibility(make_image: Callable) -> None:
    image = make_image(96, 128)
    first = random_crop(image, 64, (64.0, 128.0), np.random.default_rng(4))
    again = random_crop(image, 64, (64.0, 128.0), np.random.default_rng(4))
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8 and first.flags.c_contiguous
    np.testing.assert_array_equal(first, again)


def test_random_crop_enlarges_small_images(make_image: Callable) -> None:
    assert random_crop(make_image(40, 50), 64, (224.0, 512.0), np.random.default_rng(0)).shape == (64, 64, 3)


def test_make_example_target_is_the_true_ab(make_image: Callable) -> None:
    patch = make_image(32, 32)
    x, target = make_example(patch, HintSampling().draw(patch, np.random.default_rng(0)))
    assert x.shape == (4, 32, 32) and target.shape == (2, 32, 32) and target.dtype == np.float32
    np.testing.assert_allclose(target.transpose(1, 2, 0) * contract.AB_SCALE, rgb_to_lab(patch)[..., 1:], atol=1e-4)
    np.testing.assert_allclose(x[0] * contract.L_SCALE, rgb_to_lab(patch)[..., 0], atol=1e-3)


def test_hint_sampling_ratios(make_image: Callable) -> None:
    reference = make_image(100, 100)
    rng = np.random.default_rng(0)
    assert len(HintSampling(none_probability=1.0).draw(reference, rng)) == 0
    pixels = HintSampling(none_probability=0, click_probability=0, grid_probability=0)
    counts = [len(pixels.draw(reference, rng)) for _ in range(200)]
    assert 5 <= min(counts) and max(counts) <= 200  # 0.05-2% of 10,000 pixels
    assert np.median(counts) < 60  # log-uniform: the median is near the geometric mean, 32
    assert all(len(h) == 0 or not h.radius.any() for h in (pixels.draw(reference, rng) for _ in range(5)))
    grid = HintSampling(none_probability=0, click_probability=0, grid_probability=1.0)
    assert min(len(grid.draw(reference, rng)) for _ in range(20)) >= 5 + 49


def test_hint_sampling_clicks_are_user_like(make_image: Callable) -> None:
    reference = make_image(100, 100)
    rng = np.random.default_rng(0)
    clicks = HintSampling(none_probability=0, click_probability=1.0)
    draws = [clicks.draw(reference, rng) for _ in range(300)]
    counts = [len(h) for h in draws]
    assert min(counts) == 1 and max(counts) <= 50
    assert np.median(counts) < 15  # log-uniform in 1..50: few clicks are common
    radii = np.concatenate([h.radius for h in draws])
    assert radii.min() == 0 and radii.max() == 4


def test_training_batches_depend_only_on_seed_and_step(image_folder: Path) -> None:
    sampler = TrainingSampler(load_folder(image_folder), short_side_range=(64.0, 128.0))
    x, y = sampler.batch(3, 32, seed=1, step=5)
    assert x.shape == (3, 4, 32, 32) and y.shape == (3, 2, 32, 32)
    assert x.dtype == np.float32 and y.dtype == np.float32
    x_again, y_again = sampler.batch(3, 32, seed=1, step=5)
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_array_equal(y, y_again)
    x_next, _ = sampler.batch(3, 32, seed=1, step=6)
    assert not np.array_equal(x, x_next)


def test_rotate_hue_keeps_lightness_and_chroma_and_turns_the_hue(make_image: Callable) -> None:
    # Muted colours, well inside the sRGB gamut, so that rotating them needs no clipping.
    patch = (make_image(32, 32, seed=3).astype(np.float32) * 0.2 + 100).astype(np.uint8)
    before = rgb_to_lab(patch)
    after = rgb_to_lab(rotate_hue(patch, np.pi / 2))
    np.testing.assert_allclose(after[..., 0], before[..., 0], atol=0.6)
    np.testing.assert_allclose(np.hypot(after[..., 1], after[..., 2]), np.hypot(before[..., 1], before[..., 2]), atol=1.5)
    # a quarter turn: (a, b) -> (-b, a)
    np.testing.assert_allclose(after[..., 1], -before[..., 2], atol=1.5)
    np.testing.assert_allclose(after[..., 2], before[..., 1], atol=1.5)
    np.testing.assert_array_equal(rotate_hue(patch, 0.0), patch)


def test_hue_jitter_is_reproducible_and_off_by_default(image_folder: Path) -> None:
    images = load_folder(image_folder)
    plain = TrainingSampler(images, short_side_range=(64.0, 128.0))
    rotated = TrainingSampler(images, short_side_range=(64.0, 128.0), hue_probability=1.0)
    x_plain, y_plain = plain.batch(4, 32, seed=1, step=5)
    _, y_rot = rotated.batch(4, 32, seed=1, step=5)
    assert not np.allclose(y_rot, y_plain, atol=0.05)
    np.testing.assert_array_equal(rotated.batch(4, 32, seed=1, step=5)[1], y_rot)
    # hue jitter at probability 0 draws nothing: batches are those of runs made before the option existed
    np.testing.assert_array_equal(TrainingSampler(images, (64.0, 128.0), hue_probability=0.0).batch(4, 32, 1, 5)[0], x_plain)
