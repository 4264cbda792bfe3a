"""Classical baselines: gray output, Levin et al.'s colorization by optimization, exact least-squares propagation."""

import numpy as np

from msau.benchmarks.baselines import gray_baseline, least_squares_colorize, levin_colorize
from msau.runtime.color import rgb_to_lab


def test_gray_baseline_has_no_chroma_and_keeps_lightness():
    lightness = np.linspace(0, 100, 32 * 16, dtype=np.float32).reshape(32, 16)
    lab = rgb_to_lab(gray_baseline(lightness))
    assert np.abs(lab[..., 1:]).max() < 0.6  # uint8 rounding only
    assert np.abs(lab[..., 0] - lightness).max() < 0.6


def _region_means(lightness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hints = np.zeros((3, 24, 24), np.float32)
    hints[:, 5, 3] = (0.5, 0.2, 1.0)  # left region: one hint
    hints[:, 18, 20] = (-0.4, 0.3, 1.0)  # right region: another
    ab = levin_colorize(lightness, hints)  # (2, 24, 24)
    np.testing.assert_allclose(ab[:, 5, 3], (0.5, 0.2), atol=1e-5)  # hints are kept exactly
    return ab[:, :, :12].reshape(2, -1).mean(axis=1), ab[:, :, 12:].reshape(2, -1).mean(axis=1)


def test_levin_keeps_hints_and_an_edge_holds_colours_apart():
    flat = np.full((24, 24), 50.0, np.float32)
    edged = flat.copy()
    edged[:, :12], edged[:, 12:] = 30.0, 80.0  # two flat regions split by a strong vertical edge
    flat_left, flat_right = _region_means(flat)
    edge_left, edge_right = _region_means(edged)
    # Without an edge both regions blend towards one colour; with it each keeps more of its own hint.
    # Measured: a* apart by 0.88 with the edge (of the hints' 0.9), 0.19 without.
    assert edge_left[0] - edge_right[0] > 0.8
    assert 0.1 < flat_left[0] - flat_right[0] < 0.3


def test_levin_without_hints_is_gray():
    assert not levin_colorize(np.full((8, 8), 50.0, np.float32), np.zeros((3, 8, 8), np.float32)).any()


def test_least_squares_without_a_network_keeps_hints_and_respects_the_edge():
    lightness = np.full((24, 24), 30.0, np.float32)
    lightness[:, 12:] = 80.0
    hints = np.zeros((3, 24, 24), np.float32)
    hints[:, 5, 3] = (0.5, 0.2, 1.0)
    hints[:, 18, 20] = (-0.4, 0.3, 1.0)
    ab = least_squares_colorize(lightness, hints, sigma=1.5)
    # Each flat region takes its one hint's colour (within 0.1 %: the gray prior weighs almost nothing)...
    np.testing.assert_allclose(ab[:, :, :12].reshape(2, -1), np.array([[0.5], [0.2]]).repeat(288, 1), atol=1e-3)
    np.testing.assert_allclose(ab[:, :, 12:].reshape(2, -1), np.array([[-0.4], [0.3]]).repeat(288, 1), atol=1e-3)
