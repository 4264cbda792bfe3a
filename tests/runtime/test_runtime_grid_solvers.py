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
