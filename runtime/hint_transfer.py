"""Non-local correction of the network's colours from its errors at the hints, before the hint propagation.

At every hint the runtime knows how wrong the network is there (hint − network ab). The edge-aware propagation
(msau.runtime.refine) carries that correction only along paths of even lightness; but a network that makes a
region of some kind too yellow usually makes every region that looks alike too yellow, hinted or not. So the
prior of the propagation is corrected first by a kernel regression of those residuals over pixels that look alike:
features (network a, network b, L*, y, x), each divided by its scale in FEATURE_SCALES, Gaussian weights of unit
width. SHRINK keeps the correction small where no hinted pixel looks alike.

It runs on a coarse grid of cells (at most MAX_CELLS; a hinted cell carries its mean residual, and dense hints
are pooled in larger cells, at most MAX_SAMPLES), bilinearly upsampled: the correction is smooth, and the cost
stays a few milliseconds at 0.1-1 % hints, under 35 ms for dense scribbles, whatever the image size. On
../shared/data/val it adds 0.2–0.4 dB to what msau-run delivers (MODEL.md). numpy and OpenCV, and numba for
the cell means and the kernel regression (msau.runtime.compiled).
"""

from __future__ import annotations

import cv2
import numpy as np

from msau.runtime.compiled import compiled, exp_in_place
from msau.runtime.contract import CHANNEL_A_HINT, CHANNEL_B_HINT, CHANNEL_L, CHANNEL_MASK

# Scales of the features (network a and b in contract units ab/110, L* in contract units L/100, position as a
# fraction of the grid's height) at which two pixels count as alike; chosen on val, where 0.05-0.2 all did well.
FEATURE_SCALES = (0.1, 0.1, 0.1, 0.1, 0.1)
SHRINK = 0.1  # pseudo-weight of a zero correction: a pixel like no hinted pixel keeps the network's colours
MIN_CELL = 4  # cell side in network pixels: 64x64 cells at 256x256
MAX_CELLS = 8192  # the cell side doubles until the grid has at most this many cells, bounding the cost
MAX_SAMPLES = 1024  # hinted cells at most: denser hints are pooled in larger cells (0.1-1 % hints never are)


def cell_size(height: int, width: int) -> int:
    """Side of the square cells the correction is computed on, in network pixels."""
    size = MIN_CELL
    while (height // size) * (width // size) > MAX_CELLS:
        size *= 2
    return size


def _shrink(plane: np.ndarray, size: int) -> np.ndarray:
    height, width = plane.shape
    return cv2.resize(plane, (max(width // size, 1), max(height // size, 1)), interpolation=cv2.INTER_AREA)


def _features(ab: np.ndarray, lightness: np.ndarray) -> np.ndarray:
    """(cells, 5) scaled features of a grid of cells: a, b, L, and the cell centres' y, x as fractions of the
    height, so that grids of different cell sizes share one space."""
    rows, columns = lightness.shape
    ys, xs = (np.mgrid[0:rows, 0:columns].astype(np.float32) + np.float32(0.5)) / np.float32(rows)
    planes = np.stack([ab[0], ab[1], lightness, ys, xs])  # (5, rows, columns)
    scales = np.asarray(FEATURE_SCALES, np.float32)[:, None, None]
    return (planes / scales).reshape(5, -1).T.astype(np.float32)


@compiled
def _block_means(
    ab: np.ndarray, lightness: np.ndarray, hint_a: np.ndarray, hint_b: np.ndarray, mask: np.ndarray, size: int
) -> np.ndarray:
    """_cells where size divides both sides: one pass over the pixels, 0.4-0.5 ms at 256x256 where OpenCV's six
    area resizes and the numpy that made their planes took 0.9-1.0 ms."""
    rows, columns = mask.shape[0] // size, mask.shape[1] // size
    means = np.empty((6, rows, columns), np.float32)
    share = np.float32(1.0 / (size * size))
    for row in range(rows):
        for column in range(columns):
            a_sum = b_sum = l_sum = m_sum = ra_sum = rb_sum = np.float32(0.0)
            for i in range(row * size, (row + 1) * size):
                for j in range(column * size, (column + 1) * size):
                    a, b, weight = ab[0, i, j], ab[1, i, j], mask[i, j]
                    a_sum += a
                    b_sum += b
                    l_sum += lightness[i, j]
                    m_sum += weight
                    ra_sum += (hint_a[i, j] - a) * weight
                    rb_sum += (hint_b[i, j] - b) * weight
            means[0, row, column], means[1, row, column], means[2, row, column] = a_sum * share, b_sum * share, l_sum * share
            means[3, row, column], means[4, row, column], means[5, row, column] = m_sum * share, ra_sum * share, rb_sum * share
    return means


def _cells(ab: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    """(6, rows, columns): the means over cells of side size of the network's a, b, L*, the mask, and the residual
    (hint - network) a and b times the mask; ab (2, h, w) and the contract input x (4, h, w) float32."""
    mask = x[CHANNEL_MASK]
    if mask.shape[0] % size == 0 and mask.shape[1] % size == 0:
        return _block_means(ab, x[CHANNEL_L], x[CHANNEL_A_HINT], x[CHANNEL_B_HINT], mask, size)
    residual = np.stack([x[CHANNEL_A_HINT], x[CHANNEL_B_HINT]]) - ab  # (2, h, w)
    planes = np.concatenate([ab, x[CHANNEL_L][None], mask[None], residual * mask])  # (6, h, w)
    return np.stack([_shrink(plane, size) for plane in planes])  # area means, fractional at the far edges


def _hinted_cells(cells: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features (k, 5), mean residual (k, 2)) of the cells that hold a hint, from all cells (6, rows, columns):
    the cell means of a, b, L, mask, residual a x mask, residual b x mask, and their features (rows x columns, 5)."""
    cell_mask = cells[3].ravel()
    hinted = cell_mask > 0
    return features[hinted], (cells[4:].reshape(2, -1)[:, hinted] / cell_mask[hinted]).T


def sample_cell_size(mask: np.ndarray) -> int:
    """Side of the cells the hints are pooled in: the query cells' side, doubled while more than MAX_SAMPLES
    cells hold a hint (dense scribbles), so the cost stays bounded."""
    height, width = mask.shape
    size = cell_size(height, width)
    while 2 * size <= min(height, width) and np.count_nonzero(_shrink(mask, size)) > MAX_SAMPLES:
        size *= 2
    return size


@compiled
def _gaussian_regression(queries: np.ndarray, samples: np.ndarray, residual: np.ndarray, shrink: float) -> np.ndarray:
    """(queries, 2): at each query (n, 5), the mean of the residuals (2, k) weighted by exp(-|q - s|^2 / 2) over the
    samples (5, k, transposed), shrunk towards 0 by the pseudo-weight shrink."""
    count, known = queries.shape[0], samples.shape[1]
    weights = np.empty(known, np.float32)
    scratch = np.empty(known, np.int32)
    out = np.empty((count, 2), np.float32)
    for i in range(count):
        q0, q1, q2, q3, q4 = queries[i, 0], queries[i, 1], queries[i, 2], queries[i, 3], queries[i, 4]
        for j in range(known):
            d0, d1, d2 = q0 - samples[0, j], q1 - samples[1, j], q2 - samples[2, j]
            d3, d4 = q3 - samples[3, j], q4 - samples[4, j]
            weights[j] = (d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3 + d4 * d4) * np.float32(-0.5)
        exp_in_place(weights, -80.0, scratch)  # below exp(-80) a weight is nil beside shrink
        total, a, b = np.float32(0.0), np.float32(0.0), np.float32(0.0)
        for j in range(known):
            total += weights[j]
            a += weights[j] * residual[0, j]
            b += weights[j] * residual[1, j]
        out[i, 0] = a / (total + shrink)
        out[i, 1] = b / (total + shrink)
    return out


def _kernel_regression(queries: np.ndarray, samples: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """(queries, 2): at each query (n, 5), the Gaussian-weighted mean of the residuals (k, 2) of the samples (k, 5),
    shrunk to 0 by SHRINK; compiled, one pass over the samples per query.

    In numpy (the exponents of every query and sample as one matrix product, exponentiated in place, and a second
    product for the weighted sums) it took 2.2-2.7 ms at 0.5 % hints (4,096 queries, about 300 samples), and its
    products needed care to keep OpenBLAS's threads from spinning beside the network; compiled, 1.2-1.6 ms in the
    same series, and 15x closer to the float64 result."""
    return _gaussian_regression(
        np.ascontiguousarray(queries, np.float32),
        np.ascontiguousarray(samples.T, np.float32),
        np.ascontiguousarray(residual.T, np.float32),
        np.float32(SHRINK),
    )


def hint_correction(ab: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(2, h, w) to add to the network's ab (2, h, w): its errors at the hints of the contract input x (4, h, w),
    spread over pixels that look alike. Zero when x has no hints."""
    height, width = ab.shape[-2:]
    mask = np.ascontiguousarray(x[CHANNEL_MASK], dtype=np.float32)
    if not mask.any():
        return np.zeros_like(ab, dtype=np.float32)
    size = cell_size(height, width)
    ab, x = np.ascontiguousarray(ab, np.float32), np.ascontiguousarray(x, np.float32)
    cells = _cells(ab, x, size)
    queries = _features(cells[:2], cells[2])  # (cells, 5)
    sample_size = sample_cell_size(mask)
    if sample_size == size:  # sparse hints, the usual case: the hints are pooled in the query cells
        samples, sample_residual = _hinted_cells(cells, queries)
    else:
        sample_cells = _cells(ab, x, sample_size)
        samples, sample_residual = _hinted_cells(sample_cells, _features(sample_cells[:2], sample_cells[2]))
    correction = _kernel_regression(queries, samples, sample_residual)  # (cells, 2)
    grid = correction.T.reshape((2,) + cells.shape[1:])
    return np.stack([cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR) for plane in grid])
