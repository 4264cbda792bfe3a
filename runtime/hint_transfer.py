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
../shared/data/val it adds 0.2–0.4 dB to what msau-run delivers (MODEL.md). numpy and OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from msau.runtime.contract import CHANNEL_A_HINT, CHANNEL_B_HINT, CHANNEL_L, CHANNEL_MASK

# Scales of the features (network a and b in contract units ab/110, L* in contract units L/100, position as a
# fraction of the grid's height) at which two pixels count as alike; chosen on val, where 0.05-0.2 all did well.
FEATURE_SCALES = (0.1, 0.1, 0.1, 0.1, 0.1)
SHRINK = 0.1  # pseudo-weight of a zero correction: a pixel like no hinted pixel keeps the network's colours
MIN_CELL = 4  # cell side in network pixels: 64x64 cells at 256x256
MAX_CELLS = 8192  # the cell side doubles until the grid has at most this many cells, bounding the cost
MAX_SAMPLES = 1024  # hinted cells at most: denser hints are pooled in larger cells (0.1-1 % hints never are)
_QUERY_CHUNK = 512  # cells per kernel block: at 0.5 % hints a block (0.6 MB) stays in L2; 2048 ran 1.5x slower
# Rows per matrix product. OpenBLAS (numpy's, and the one inside OpenCV 5 behind cv2.gemm) splits a product over
# its threads above 65536 x 4 multiply-adds, and its threads then spin for a while: the network called next ran
# 1.5x slower beside them (41-49 against 28 ms), and on a CPU busy with other work each product waited for a
# scheduler tick (the correction took 165 ms instead of 8). 32 x MAX_SAMPLES x 7 stays under that limit.
_PRODUCT_ROWS = 32


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


def _cells(planes: np.ndarray, size: int) -> np.ndarray:
    """(c, rows, columns): each plane of planes (c, h, w) averaged over cells of side size."""
    return np.stack([_shrink(plane, size) for plane in planes])


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


def _one_thread_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (n, k) @ b (k, m) as a stack of _PRODUCT_ROWS-row products (n a multiple of it), each below OpenBLAS's
    threading limit: one numpy call, no BLAS threads woken."""
    rows = a.shape[0]
    return np.matmul(a.reshape(rows // _PRODUCT_ROWS, _PRODUCT_ROWS, a.shape[1]), b).reshape(rows, b.shape[1])


def _kernel_regression(queries: np.ndarray, samples: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """(queries, 2): the Gaussian-weighted mean of the samples' residuals (k, 2) at each query, shrunk to 0.

    exp(-|q - s|^2 / 2) = exp(q.s - |q|^2 / 2 - |s|^2 / 2): with the squared norms appended as features, one
    matrix product gives every exponent, and with a column of ones appended to the residuals, one more gives
    numerators and denominators together; the (queries x samples) block is made once and exponentiated in
    place (the broadcast form made four temporaries of its size and cost five times as much)."""
    count = queries.shape[0]
    left = np.zeros((-(-count // _PRODUCT_ROWS) * _PRODUCT_ROWS, queries.shape[1] + 2), np.float32)  # whole stacks
    left[:count, :-2] = queries
    left[:count, -2] = -0.5 * np.square(queries).sum(axis=1)
    left[:, -1] = 1.0
    right = np.empty((samples.shape[0], samples.shape[1] + 2), np.float32)
    right[:, :-2] = samples
    right[:, -2] = 1.0
    right[:, -1] = -0.5 * np.square(samples).sum(axis=1)
    values = np.empty((residual.shape[0], 3), np.float32)
    values[:, :2] = residual
    values[:, 2] = 1.0
    out = np.empty((left.shape[0], 2), np.float32)
    for start in range(0, left.shape[0], _QUERY_CHUNK):
        block = slice(start, min(start + _QUERY_CHUNK, left.shape[0]))
        weights = _one_thread_product(left[block], right.T)  # (chunk, samples): -|q-s|^2/2
        # Above 0 only by rounding; below -80 the weight is nil beside SHRINK, and exp would make float32
        # denormals there, which made the exp and the product after it cost 3x as much.
        np.clip(weights, -80.0, 0.0, out=weights)
        np.exp(weights, out=weights)
        sums = _one_thread_product(weights, values)  # (chunk, 3): weighted residuals and the weights' sum
        out[block] = sums[:, :2] / (sums[:, 2:] + SHRINK)
    return out[:count]


def hint_correction(ab: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(2, h, w) to add to the network's ab (2, h, w): its errors at the hints of the contract input x (4, h, w),
    spread over pixels that look alike. Zero when x has no hints."""
    height, width = ab.shape[-2:]
    mask = np.ascontiguousarray(x[CHANNEL_MASK], dtype=np.float32)
    if not mask.any():
        return np.zeros_like(ab, dtype=np.float32)
    size = cell_size(height, width)
    ab = np.asarray(ab, np.float32)
    residual = np.stack([x[CHANNEL_A_HINT], x[CHANNEL_B_HINT]]).astype(np.float32) - ab  # (2, h, w)
    planes = np.concatenate([ab, x[CHANNEL_L][None].astype(np.float32), mask[None], residual * mask])  # (6, h, w)
    cells = _cells(planes, size)
    queries = _features(cells[:2], cells[2])  # (cells, 5)
    sample_size = sample_cell_size(mask)
    if sample_size == size:  # sparse hints, the usual case: the hints are pooled in the query cells
        samples, sample_residual = _hinted_cells(cells, queries)
    else:
        sample_cells = _cells(planes, sample_size)
        samples, sample_residual = _hinted_cells(sample_cells, _features(sample_cells[:2], sample_cells[2]))
    correction = _kernel_regression(queries, samples, sample_residual)  # (cells, 2)
    grid = correction.T.reshape((2,) + cells.shape[1:])
    return np.stack([cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR) for plane in grid])
