"""Solvers for the propagation's grid system (I - L) y = b, compiled by numba.

msau.runtime.refine solves, per ab plane, a system with unit diagonal whose links L couple each pixel with its 4
neighbours: by conjugate gradients on the fine grids, exactly (banded Cholesky) on the coarsest.

Conjugate gradients: in numpy every iteration made about 17 passes over the (2, h, w) planes (each shifted
product, update and dot product its own array operation), and on a 256x256 grid those passes, not the arithmetic,
were the cost: about 0.9 ms per iteration, 12 of the 20 ms the runtime spent around the network. Here one
iteration is three fused passes (product with its dot product; both updates with the residual's norm; the new
direction), and the whole loop runs without the interpreter and without the GIL, so batch threads overlap it with
the network.

The exact solve: block elimination row by row in numpy took 1.3 ms at 32x32 (32 inversions of 32x32); the
banded Cholesky factorization does the same elimination in place, in 1024 x 32^2 / 2 multiply-adds: 0.5 ms.

Compiled on first use for the CPU at hand (about 3 s) and cached on disk (msau.runtime.compiled).
"""

from __future__ import annotations

import numpy as np

from msau.runtime.compiled import compiled, exp_in_place


@compiled
def scaled_system(
    lightness: np.ndarray,
    mask: np.ndarray,
    hints: np.ndarray,
    prior: np.ndarray,
    sigma: float,
    hint_weight: float,
    prior_weight: float,
    min_exponent: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The propagation's system on one grid, scaled to unit diagonal: (S (h, w), links horizontal (h, w - 1) and
    vertical (h - 1, w) of S A S, right-hand sides S b (2, h, w)), where A = diag(d) + the graph Laplacian of the
    links exp(max(-dL*^2 / 2 sigma^2, min_exponent)), d = prior_weight + hint_weight mask, b = prior_weight prior
    + hint_weight mask hints, S = diag(A)^-1/2. Inputs float32, C-contiguous: lightness (h, w) in L* units, mask
    (h, w) in [0, 1], hints and prior (2, h, w). In numpy these were 20 array passes per grid."""
    height, width = lightness.shape
    horizontal = np.empty((height, width - 1), np.float32)
    vertical = np.empty((height - 1, width), np.float32)
    factor = np.float32(-0.5 / (sigma * sigma))
    for i in range(height):
        for j in range(width - 1):
            step = lightness[i, j + 1] - lightness[i, j]
            horizontal[i, j] = step * step * factor
    for i in range(height - 1):
        for j in range(width):
            step = lightness[i + 1, j] - lightness[i, j]
            vertical[i, j] = step * step * factor
    scratch = np.empty(max(horizontal.size, vertical.size), np.int32)
    exp_in_place(horizontal.reshape(-1), min_exponent, scratch)
    exp_in_place(vertical.reshape(-1), min_exponent, scratch)
    scale = np.empty((height, width), np.float32)
    rhs = np.empty((2, height, width), np.float32)
    for i in range(height):
        for j in range(width):
            pinned = np.float32(hint_weight) * mask[i, j]
            diagonal = np.float32(prior_weight) + pinned
            if j > 0:
                diagonal += horizontal[i, j - 1]
            if j < width - 1:
                diagonal += horizontal[i, j]
            if i > 0:
                diagonal += vertical[i - 1, j]
            if i < height - 1:
                diagonal += vertical[i, j]
            root = np.float32(1.0) / np.sqrt(diagonal)
            scale[i, j] = root
            for plane in range(2):
                rhs[plane, i, j] = (np.float32(prior_weight) * prior[plane, i, j] + pinned * hints[plane, i, j]) * root
    for i in range(height):
        for j in range(width - 1):
            horizontal[i, j] *= scale[i, j] * scale[i, j + 1]
    for i in range(height - 1):
        for j in range(width):
            vertical[i, j] *= scale[i, j] * scale[i + 1, j]
    return scale, horizontal, vertical, rhs


@compiled
def coarse_grid(
    lightness: np.ndarray, mask: np.ndarray, hints: np.ndarray, prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The propagation's inputs on the grid of half the size (even sides): means of 2x2 pixels for lightness (h, w),
    mask (h, w) and prior (2, h, w); a coarse pixel's hint (2, h, w) is the mean of the hints inside it, its mask
    the fraction hinted. One pass, where OpenCV's area resizes took six, and the numpy around them as many more."""
    height, width = lightness.shape[0] // 2, lightness.shape[1] // 2
    coarse_lightness = np.empty((height, width), np.float32)
    coarse_mask = np.empty((height, width), np.float32)
    coarse_hints = np.empty((2, height, width), np.float32)
    coarse_prior = np.empty((2, height, width), np.float32)
    quarter = np.float32(0.25)
    for i in range(height):
        top, bottom = 2 * i, 2 * i + 1
        for j in range(width):
            left, right = 2 * j, 2 * j + 1
            coarse_lightness[i, j] = (
                lightness[top, left] + lightness[top, right] + lightness[bottom, left] + lightness[bottom, right]
            ) * quarter
            weights = (mask[top, left], mask[top, right], mask[bottom, left], mask[bottom, right])
            hinted = (weights[0] + weights[1] + weights[2] + weights[3]) * quarter
            coarse_mask[i, j] = hinted
            for plane in range(2):
                coarse_prior[plane, i, j] = (
                    prior[plane, top, left] + prior[plane, top, right] + prior[plane, bottom, left] + prior[plane, bottom, right]
                ) * quarter
                pinned = (
                    weights[0] * hints[plane, top, left]
                    + weights[1] * hints[plane, top, right]
                    + weights[2] * hints[plane, bottom, left]
                    + weights[3] * hints[plane, bottom, right]
                ) * quarter
                coarse_hints[plane, i, j] = pinned / max(hinted, np.float32(1e-6))
    return coarse_lightness, coarse_mask, coarse_hints, coarse_prior


@compiled
def _padded_links(horizontal: np.ndarray, vertical: np.ndarray) -> np.ndarray:
    """(4, h, w): each pixel's link to its left, right, upper and lower neighbour; 0 where there is none, so the
    product below needs no branch at the borders."""
    height, width = vertical.shape[0] + 1, horizontal.shape[1] + 1
    links = np.zeros((4, height, width), np.float32)
    for i in range(height):
        for j in range(width - 1):
            links[0, i, j + 1] = horizontal[i, j]
            links[1, i, j] = horizontal[i, j]
    for i in range(height - 1):
        for j in range(width):
            links[2, i + 1, j] = vertical[i, j]
            links[3, i, j] = vertical[i, j]
    return links


@compiled
def _product(links: np.ndarray, padded: np.ndarray, out: np.ndarray) -> float:
    """out = (I - links) p for p inside padded (h + 2, w + 2), whose border is 0; returns p . out."""
    height, width = out.shape
    total = 0.0
    for i in range(height):
        row, above, below = padded[i + 1], padded[i], padded[i + 2]
        left, right, up, down = links[0, i], links[1, i], links[2, i], links[3, i]
        partial = np.float32(0.0)
        for j in range(width):
            value = row[j + 1]
            result = value - left[j] * row[j] - right[j] * row[j + 2] - up[j] * above[j + 1] - down[j] * below[j + 1]
            out[i, j] = result
            partial += value * result
        total += partial
    return total


@compiled
def _solve_plane(links: np.ndarray, rhs: np.ndarray, y: np.ndarray, iterations: int) -> None:
    """Plain CG on (I - links) y = rhs for one plane (h, w), from y, in place."""
    height, width = y.shape
    direction = np.zeros((height + 2, width + 2), np.float32)  # padded: its border stays 0
    residual = np.empty((height, width), np.float32)
    product = np.empty((height, width), np.float32)
    for i in range(height):
        for j in range(width):
            direction[i + 1, j + 1] = y[i, j]
    _product(links, direction, product)
    rr = 0.0
    for i in range(height):
        partial = np.float32(0.0)
        for j in range(width):
            value = rhs[i, j] - product[i, j]
            residual[i, j] = value
            direction[i + 1, j + 1] = value
            partial += value * value
        rr += partial
    for _ in range(iterations):
        curvature = _product(links, direction, product)
        step = np.float32(rr / max(curvature, 1e-30))
        rr_next = 0.0
        for i in range(height):
            partial = np.float32(0.0)
            for j in range(width):
                y[i, j] += step * direction[i + 1, j + 1]
                value = residual[i, j] - step * product[i, j]
                residual[i, j] = value
                partial += value * value
            rr_next += partial
        keep = np.float32(rr_next / max(rr, 1e-30))
        for i in range(height):
            for j in range(width):
                direction[i + 1, j + 1] = residual[i, j] + keep * direction[i + 1, j + 1]
        rr = rr_next


@compiled
def conjugate_gradients(horizontal: np.ndarray, vertical: np.ndarray, rhs: np.ndarray, y: np.ndarray, iterations: int) -> None:
    """Conjugate gradients for (I - L) y = rhs, each plane of rhs and y (c, h, w) on its own, y updated in place
    from its start. L links each pixel with weight horizontal (h, w - 1) to its right neighbour and vertical
    (h - 1, w) to the one below (and back, symmetric). All float32 and C-contiguous."""
    links = _padded_links(horizontal, vertical)
    for plane in range(y.shape[0]):
        _solve_plane(links, rhs[plane], y[plane], iterations)


@compiled
def solve_exactly(horizontal: np.ndarray, vertical: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The solution (c, h, w) of (I - L) y = rhs for every plane of rhs (c, h, w), float64 throughout (the data
    term is 1e-3 of a link, so the system is ill-conditioned), links as for conjugate_gradients.

    Pixels are numbered row by row, so a pixel meets its neighbours at distances 1 and w: the matrix is a band of
    half-width w, factorized as U^T U in place (U upper triangular, the band is all it fills). The cost is h w^3,
    so the caller passes the grid with its shorter side as w (transposed if need be)."""
    height, width = rhs.shape[1], rhs.shape[2]
    count = height * width
    band = np.zeros((count, width + 1))  # band[k, d] = U[k, k + d]
    for i in range(height):
        for j in range(width):
            k = i * width + j
            band[k, 0] = 1.0
            if j < width - 1:
                band[k, 1] = -horizontal[i, j]
            if i < height - 1:
                band[k, width] = -vertical[i, j]
    for k in range(count):
        pivot = np.sqrt(band[k, 0])
        reach = min(width, count - 1 - k)
        band[k, 0] = pivot
        for d in range(1, reach + 1):
            band[k, d] /= pivot
        source = band[k]
        for d in range(1, reach + 1):  # fold row k into row k + d, whose band starts d further on
            factor, target = source[d], band[k + d]
            for e in range(reach + 1 - d):  # contiguous from 0: compiled to vector code (3x faster than from d)
                target[e] -= factor * source[e + d]
    solution = np.empty(rhs.shape, np.float32)
    values = np.empty(count)
    for plane in range(rhs.shape[0]):
        for k in range(count):
            values[k] = rhs[plane, k // width, k % width]
        for k in range(count):  # U^T z = b
            values[k] /= band[k, 0]
            for d in range(1, min(width, count - 1 - k) + 1):
                values[k + d] -= band[k, d] * values[k]
        for k in range(count - 1, -1, -1):  # U y = z
            total = values[k]
            for d in range(1, min(width, count - 1 - k) + 1):
                total -= band[k, d] * values[k + d]
            values[k] = total / band[k, 0]
        for k in range(count):
            solution[plane, k // width, k % width] = values[k]
    return solution
