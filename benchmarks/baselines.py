"""Classical baselines to put the network's figures in context (no network involved).

- gray: the input's lightness with zero chroma.
- levin: colorization by optimization (Levin, Lischinski, Weiss, SIGGRAPH 2004): each pixel's chroma is the
  affinity-weighted mean of its 3x3 neighbours', hints fixed; one sparse linear solve per channel.
- least_squares: the runtime's own edge-aware propagation (msau.runtime.refine) solved exactly with a sparse
  direct solver; with prior_weight near 0 and a gray prior it is propagation alone, without the network.
"""

from __future__ import annotations

import numpy as np

from msau.runtime.color import lab_to_rgb_uint8
from msau.runtime.contract import AB_SCALE


def gray_baseline(lightness: np.ndarray) -> np.ndarray:
    """sRGB uint8 (H, W, 3) of L* (H, W) with a* = b* = 0."""
    lab = np.zeros(lightness.shape + (3,), np.float32)
    lab[..., 0] = lightness
    return lab_to_rgb_uint8(lab)


def _affinity_matrix(intensity: np.ndarray):
    """Row-normalised 3x3-neighbourhood affinities W (HW x HW, sparse) from an intensity image in [0, 1], as
    Levin et al.'s own code (getColorExact.m) computes them: w_rs = exp(-(Y_r - Y_s)^2 / (0.6 var_r)), var_r over
    the window inside the image, widened so the most similar neighbour keeps a weight of at least 0.01."""
    from scipy import sparse

    height, width = intensity.shape
    padded = np.pad(intensity, 1, mode="constant", constant_values=np.nan)  # NaN: outside the image
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    windows = np.stack([padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in offsets])  # (8, H, W)
    inside = ~np.isnan(windows)
    with_centre = np.concatenate([windows, intensity[None]])
    variance = np.nanvar(with_centre, axis=0)
    squared = np.where(inside, np.square(windows - intensity[None]), np.inf)  # (8, H, W)
    width_sq = np.maximum(variance * 0.6, squared.min(axis=0) / np.log(100.0))
    width_sq = np.maximum(width_sq, 2e-6)  # flat regions
    weights = np.exp(-squared / width_sq[None])  # 0 outside the image, where squared is inf
    ys, xs = np.mgrid[0:height, 0:width]
    rows, cols, values = [], [], []
    for k, (dy, dx) in enumerate(offsets):
        rows.append((ys * width + xs)[inside[k]])
        cols.append(((ys + dy) * width + xs + dx)[inside[k]])
        values.append(weights[k][inside[k]])
    rows, cols, values = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
    matrix = sparse.csr_matrix((values, (rows, cols)), shape=(height * width, height * width))
    row_sums = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.diags(1.0 / np.maximum(row_sums, 1e-12)) @ matrix


def levin_colorize(lightness: np.ndarray, hint_channels: np.ndarray) -> np.ndarray:
    """ab (2, H, W) in contract units (ab/AB_SCALE) propagated from hint channels (3, H, W) = a, b, mask.

    Without any hint the result is gray (zero chroma).
    """
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    height, width = lightness.shape
    mask = hint_channels[2].ravel() > 0
    if not mask.any():
        return np.zeros((2, height, width), np.float32)
    affinity = _affinity_matrix(lightness.astype(np.float64) / 100.0)
    identity = sparse.identity(height * width, format="csr")
    # Rows of hinted pixels become u_r = hint; the others u_r - sum_s w_rs u_s = 0.
    free = sparse.diags((~mask).astype(np.float64))
    system = (identity - free @ affinity).tocsc()
    result = np.empty((2, height * width), np.float32)
    for channel in range(2):
        rhs = np.where(mask, hint_channels[channel].ravel(), 0.0)
        result[channel] = spsolve(system, rhs)
    return result.reshape(2, height, width)


def least_squares_colorize(
    lightness: np.ndarray,
    hint_channels: np.ndarray,
    prior: np.ndarray | None = None,
    prior_weight: float = 1e-7,
    *,
    sigma: float,
) -> np.ndarray:
    """ab (2, H, W) minimising msau.runtime.refine's energy at edge width sigma exactly, from hint channels
    (3, H, W) = a, b, mask and a prior (2, H, W) (default gray); lightness in L* units. Float64 sparse direct solve:
    a reference, not fast."""
    from scipy import sparse
    from scipy.sparse.linalg import splu

    from msau.runtime.refine import HINT_WEIGHT

    height, width = lightness.shape
    prior = np.zeros((2, height, width)) if prior is None else prior
    lightness = lightness.astype(np.float64)
    index = np.arange(height * width).reshape(height, width)
    links = [
        (index[:, :-1], index[:, 1:], lightness[:, :-1] - lightness[:, 1:]),
        (index[:-1, :], index[1:, :], lightness[:-1, :] - lightness[1:, :]),
    ]
    rows = np.concatenate([a.ravel() for a, _, _ in links])
    cols = np.concatenate([b.ravel() for _, b, _ in links])
    weights = np.concatenate([np.exp(-(d**2) / (2 * sigma**2)).ravel() for _, _, d in links])
    adjacency = sparse.coo_matrix((weights, (rows, cols)), shape=(index.size,) * 2).tocsr()
    adjacency = adjacency + adjacency.T
    mask = hint_channels[2].ravel().astype(np.float64)
    data = prior_weight + HINT_WEIGHT * mask
    system = (sparse.diags(np.asarray(adjacency.sum(axis=1)).ravel() + data) - adjacency).tocsc()
    factor = splu(system, permc_spec="MMD_AT_PLUS_A")
    rhs = prior_weight * prior.reshape(2, -1) + HINT_WEIGHT * mask * hint_channels[:2].reshape(2, -1)
    return np.stack([factor.solve(channel) for channel in rhs]).reshape(2, height, width).astype(np.float32)


def levin_baseline(lightness: np.ndarray, hint_channels: np.ndarray) -> np.ndarray:
    """sRGB uint8 (H, W, 3) of Levin et al.'s propagation at the hints' resolution (same size as lightness)."""
    ab = levin_colorize(lightness, hint_channels)
    lab = np.empty(lightness.shape + (3,), np.float32)
    lab[..., 0] = lightness
    lab[..., 1:] = ab.transpose(1, 2, 0) * AB_SCALE
    return lab_to_rgb_uint8(lab)
