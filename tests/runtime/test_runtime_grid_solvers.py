"""The compiled grid solvers: conjugate gradients as the textbook iterates, plane by plane, and the exact solve."""

import numpy as np
import pytest

from msau.runtime import grid_solvers


def _system(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Links (h, w - 1) and (h - 1, w) and the dense matrix I - L they define; diagonally dominant like the
    scaled propagation system (each row's links sum below 1)."""
    rng = np.random.default_rng(seed)
    horizontal = rng.uniform(0, 0.24, (height, width - 1)).astype(np.float32)
    vertical = rng.uniform(0, 0.24, (height - 1, width)).astype(np.float32)
    matrix = np.eye(height * width)
    index = np.arange(height * width).reshape(height, width)
    for links, first, second in ((horizontal, index[:, :-1], index[:, 1:]), (vertical, index[:-1, :], index[1:, :])):
        matrix[first.ravel(), second.ravel()] = matrix[second.ravel(), first.ravel()] = -links.ravel()
    return horizontal, vertical, matrix


def _textbook(matrix: np.ndarray, rhs: np.ndarray, start: np.ndarray, iterations: int) -> np.ndarray:
    y = start.astype(np.float64)
    residual = rhs - matrix @ y
    direction = residual.copy()
    for _ in range(iterations):
        product = matrix @ direction
        step = residual @ residual / (direction @ product)
        y += step * direction
        new_residual = residual - step * product
        direction = new_residual + (new_residual @ new_residual) / (residual @ residual) * direction
        residual = new_residual
    return y


@pytest.mark.parametrize("shape", [(6, 9), (9, 6), (1, 7)])
def test_each_plane_follows_the_textbook_iteration(shape):
    height, width = shape
    horizontal, vertical, matrix = _system(height, width, seed=sum(shape))
    rng = np.random.default_rng(0)
    rhs = rng.normal(0, 1, (2, height, width)).astype(np.float32)
    start = rng.normal(0, 1, (2, height, width)).astype(np.float32)
    for iterations in (0, 1, 4):
        y = start.copy()
        grid_solvers.conjugate_gradients(horizontal, vertical, rhs, y, iterations)  # in place
        for plane in range(2):
            expected = _textbook(matrix, rhs[plane].ravel(), start[plane].ravel(), iterations)
            np.testing.assert_allclose(y[plane].ravel(), expected, atol=1e-5, rtol=1e-4)


def test_enough_iterations_solve_the_system():
    horizontal, vertical, matrix = _system(12, 10, seed=3)
    rhs = np.random.default_rng(1).normal(0, 1, (1, 12, 10)).astype(np.float32)
    y = np.zeros_like(rhs)
    grid_solvers.conjugate_gradients(horizontal, vertical, rhs, y, 60)
    np.testing.assert_allclose(y.ravel(), np.linalg.solve(matrix, rhs.ravel().astype(np.float64)), atol=1e-5)


@pytest.mark.parametrize("shape", [(9, 6), (5, 5), (7, 1)])
def test_the_exact_solve_matches_a_dense_solve(shape):
    height, width = shape
    horizontal, vertical, matrix = _system(height, width, seed=7)
    rhs = np.random.default_rng(2).normal(0, 1, (2, height, width)).astype(np.float32)
    solution = grid_solvers.solve_exactly(horizontal, vertical, rhs)
    for plane in range(2):
        expected = np.linalg.solve(matrix, rhs[plane].ravel().astype(np.float64))
        np.testing.assert_allclose(solution[plane].ravel(), expected, atol=1e-5)


def test_the_scaled_system_matches_its_definition():
    rng = np.random.default_rng(5)
    height, width = 7, 11
    lightness = (50 + 30 * (rng.random((height, width)) > 0.6)).astype(np.float32)  # edges of 30 L*: floored links
    mask = (rng.random((height, width)) < 0.2).astype(np.float32)
    hints, prior = rng.normal(0, 0.3, (2, 2, height, width)).astype(np.float32)
    sigma, hint_weight, prior_weight, floor = 1.5, 400.0, 4e-4, -40.0
    scale, horizontal, vertical, rhs = grid_solvers.scaled_system(
        lightness, mask, hints, prior, sigma, hint_weight, prior_weight, floor
    )
    links_h = np.exp(np.maximum(-np.diff(lightness.astype(np.float64), axis=1) ** 2 / (2 * sigma**2), floor))
    links_v = np.exp(np.maximum(-np.diff(lightness.astype(np.float64), axis=0) ** 2 / (2 * sigma**2), floor))
    diagonal = prior_weight + hint_weight * mask.astype(np.float64)
    diagonal[:, :-1] += links_h
    diagonal[:, 1:] += links_h
    diagonal[:-1] += links_v
    diagonal[1:] += links_v
    s = diagonal**-0.5
    np.testing.assert_allclose(scale, s, rtol=1e-5)
    np.testing.assert_allclose(horizontal, links_h * s[:, :-1] * s[:, 1:], rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(vertical, links_v * s[:-1] * s[1:], rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(rhs, (prior_weight * prior + hint_weight * mask * hints) * s, rtol=1e-5, atol=1e-7)


def test_the_coarse_grid_averages_and_pools_the_hints():
    rng = np.random.default_rng(6)
    lightness = rng.uniform(0, 100, (6, 8)).astype(np.float32)
    mask = np.zeros((6, 8), np.float32)
    mask[0, 0] = mask[1, 1] = 1.0  # two hints in the first 2x2 block
    hints = np.zeros((2, 6, 8), np.float32)
    hints[:, 0, 0], hints[:, 1, 1] = (0.2, -0.4), (0.4, 0.0)
    prior = rng.normal(0, 0.3, (2, 6, 8)).astype(np.float32)
    coarse_lightness, coarse_mask, coarse_hints, coarse_prior = grid_solvers.coarse_grid(lightness, mask, hints, prior)
    blocks = lambda planes: planes.reshape(planes.shape[:-2] + (3, 2, 4, 2)).mean(axis=(-3, -1))  # noqa: E731
    np.testing.assert_allclose(coarse_lightness, blocks(lightness), rtol=1e-6)
    np.testing.assert_allclose(coarse_prior, blocks(prior), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(coarse_mask, blocks(mask))
    np.testing.assert_allclose(coarse_hints[:, 0, 0], (0.3, -0.2), rtol=1e-6)  # the mean of the two hints
    assert not coarse_hints[:, 1:].any() and not coarse_hints[:, :, 1:].any()
