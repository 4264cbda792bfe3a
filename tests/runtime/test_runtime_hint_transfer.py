"""Correction of the network's colours by its errors at the hints: spread to pixels alike, not to others."""

import cv2
import numpy as np
import pytest

from msau.runtime.hint_transfer import MAX_CELLS, cell_size, hint_correction, sample_cell_size
from msau.runtime.refine import refine_with_hints


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """(x (4, 128, 128), network ab (2, 128, 128)). Top band (rows < 64): L* 30, split by a bright wall (L* 90,
    columns 62-65) that the edge-aware propagation cannot cross; the network says a = 0.1 there, the hints (left of
    the wall only) say 0.4. Bottom band: L* 70, no hints, the network says gray."""
    x = np.zeros((4, 128, 128), np.float32)
    ab = np.zeros((2, 128, 128), np.float32)
    x[0] = 0.7
    x[0, :64] = 0.3
    x[0, :64, 62:66] = 0.9
    ab[0, :64] = 0.1
    ab[0, :64, 62:66] = 0.0
    for row in range(4, 60, 8):
        for column in range(4, 60, 8):
            x[1, row, column], x[3, row, column] = 0.4, 1.0
    return x, ab


def test_an_error_at_the_hints_corrects_unhinted_pixels_alike_and_only_those():
    x, ab = _scene()
    correction = hint_correction(ab, x)  # (2, 128, 128)
    assert abs(float(correction[0, 32, 32]) - 0.3) < 0.01  # among the hints: their residual, a - 0.1 = 0.3
    assert float(correction[0, 32, 70]) > 0.2  # across the wall, alike: measured 0.28
    assert float(correction[0, 32, 124]) < float(correction[0, 32, 70])  # fades with distance from the hints
    assert float(np.abs(correction[:, 100:]).max()) < 0.01  # the bottom band looks different: left alone
    assert float(np.abs(correction[1]).max()) < 1e-6  # b was right at every hint


def test_the_propagation_starts_from_the_corrected_colours():
    x, ab = _scene()
    refined = refine_with_hints(ab, x)
    # The wall stops the propagation, so the region right of it evens out its corrected prior: 0.1 without the
    # correction, measured 0.20 with it.
    assert float(refined[0, 32, 70]) > 0.15
    assert float(np.abs(refined[:, 100:]).max()) < 0.01


def test_without_hints_there_is_no_correction():
    ab = np.random.default_rng(0).normal(0, 0.2, (2, 32, 48)).astype(np.float32)
    assert not hint_correction(ab, np.zeros((4, 32, 48), np.float32)).any()


def test_the_grid_stays_small_whatever_the_image_size():
    assert cell_size(256, 256) == 4
    assert cell_size(512, 512) == 8
    assert cell_size(1024, 1536) == 16
    for height, width in ((256, 256), (512, 768), (2048, 2048), (16, 4096)):
        size = cell_size(height, width)
        assert (height // size) * (width // size) <= MAX_CELLS


def test_dense_hints_are_pooled_in_larger_cells_and_still_correct():
    x = np.zeros((4, 256, 256), np.float32)
    ab = np.zeros((2, 256, 256), np.float32)
    x[0], ab[0] = 0.5, 0.1
    dense = np.random.default_rng(3).random((256, 256)) < 0.3  # a scribbled photo: nearly every cell hinted
    x[1], x[3] = np.where(dense, 0.4, 0.0), dense
    assert sample_cell_size(x[3]) == 2 * cell_size(256, 256)  # 4096 hinted 4x4 cells > MAX_SAMPLES
    assert sample_cell_size(x[3] * (np.arange(256) < 8)[None]) == cell_size(256, 256)  # 128 hinted cells
    correction = hint_correction(ab, x)
    # Every hint says a is 0.3 higher than the network: so does the correction, less the SHRINK pseudo-weight.
    assert float(np.abs(correction[0] - 0.3).max()) < 0.03


def test_the_kernel_regression_matches_its_definition_for_any_number_of_cells():
    from msau.runtime.hint_transfer import SHRINK, _kernel_regression

    rng = np.random.default_rng(4)
    queries = rng.normal(0, 1, (1000, 5)).astype(np.float32)
    samples = rng.normal(0, 1, (37, 5)).astype(np.float32)
    residual = rng.normal(0, 0.2, (37, 2)).astype(np.float32)
    weights = np.exp(-0.5 * np.square(queries[:, None, :].astype(np.float64) - samples[None]).sum(axis=2))
    expected = weights @ residual / (weights.sum(axis=1, keepdims=True) + SHRINK)
    np.testing.assert_allclose(_kernel_regression(queries, samples, residual), expected, atol=1e-6)
    far = queries + 100.0  # exponents far below -80: weights of exp(-80) at most, no NaN from 2^m underflowing
    assert float(np.abs(_kernel_regression(far, samples, residual)).max()) < 1e-30


@pytest.mark.parametrize("shape", [(32, 48), (36, 50)])  # divisible by the cell side, and not (area resizes)
def test_cells_hold_the_means_of_their_pixels(shape):
    from msau.runtime.hint_transfer import _cells

    rng = np.random.default_rng(8)
    height, width = shape
    x = rng.normal(0, 0.3, (4, height, width)).astype(np.float32)
    x[3] = rng.random((height, width)) < 0.1
    ab = rng.normal(0, 0.3, (2, height, width)).astype(np.float32)
    planes = np.concatenate([ab, x[:1], x[3:], (x[1:3] - ab) * x[3]])  # (6, h, w)
    cells = _cells(ab, x, 4)
    assert cells.shape == (6, height // 4, width // 4)
    if height % 4 == 0 and width % 4 == 0:
        expected = planes.reshape(6, height // 4, 4, width // 4, 4).mean(axis=(2, 4))
    else:  # area means over 4 x 4.17 pixels: OpenCV's, weighting the pixels a cell cuts by the share it holds
        expected = np.stack([cv2.resize(p, (width // 4, height // 4), interpolation=cv2.INTER_AREA) for p in planes])
    np.testing.assert_allclose(cells, expected, atol=1e-6)
