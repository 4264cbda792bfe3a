"""Edge-aware hint propagation with the network's colours as prior; runs after every backend alike.

The small network sees the hints but under-uses them: it neither reproduces a hint exactly nor carries its colour
across the whole region it belongs to. So, per ab channel, the runtime solves the weighted least-squares problem

    min_u  sum_p d_p (u_p - t_p)^2  +  sum_{p~q} w_pq (u_p - u_q)^2

on the network-size grid. Neighbours p~q (4-connected) are linked by w = exp(-(L*_p - L*_q)^2 / (2 sigma^2)), on
the lightness slightly blurred (EDGE_BLUR), so colour flows through regions of even lightness and stops at edges
(the assumption of Levin et al. 2004). The data term pins hinted pixels to the hint (HINT_WEIGHT) and pulls every
pixel weakly towards the network's prediction (PRIOR_WEIGHT): where no hint reaches, the network decides, after
msau.runtime.hint_transfer has corrected it by its errors at the hints. It is solved for each edge width sigma in
EDGE_SIGMAS and the solutions are averaged. The weights were chosen on ../shared/data/val (MODEL.md).

It is solved by cascadic preconditioned conjugate gradients: the solution on a 2x-downsampled grid (recursively)
starts the finer one, so a fixed, small number of Jacobi-PCG iterations per level suffices; the coarsest grid is
solved exactly. numpy and OpenCV, and numba for the system and its solvers (msau.runtime.grid_solvers).
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from msau.runtime import grid_solvers
from msau.runtime.contract import CHANNEL_A_HINT, CHANNEL_B_HINT, CHANNEL_L, CHANNEL_MASK, L_SCALE
from msau.runtime.hint_transfer import hint_correction

# Edge widths in L* units (neighbours sigma apart in lightness are linked with weight exp(-1/2)); the propagation is
# solved for each and the solutions averaged. No one width suits every edge of a photo: a narrow one stops colour at
# faint edges that a wide one lets it cross, and where it is unclear which is right, the mean of the two hedges. On
# the 105 val photos (the shipped network, seeds 0, 1000 and 2000) (0.75, 2.0) scored +0.09 / +0.11 / +0.14 dB at
# 0.1 / 0.5 / 1 % hints and +0.02 / +0.04 with 10 / 50 clicks against the single width shipped before (1.5, the
# best single one: 1.0, 1.25, 1.75 and 2.0 scored below it), for twice the solves, which run side by side in
# threads. Links mixing the two widths in one solve gained a third of that; three widths (0.75, 1.5, 3.0) no more
# than two (MODEL.md).
EDGE_SIGMAS = (0.75, 2.0)
# Pixels of Gaussian blur on the lightness the links are computed from: photos carry sensor and JPEG noise of an L*
# or two, which at these widths cuts links inside even regions. On the 105 val photos (seeds 0, 1000, 2000) 0.5
# scored +0.003 / +0.017 / +0.027 dB at 0.1 / 0.5 / 1 % and +0.003 / +0.010 with 10 / 50 clicks, nowhere less;
# 0.8 as much, 1.1 lost at 0.1 %, 1.5 lost 0.1 dB (edges themselves blur).
EDGE_BLUR = 0.5
HINT_WEIGHT = 400.0  # per hinted pixel, relative to a full-strength neighbour link
PRIOR_WEIGHT = 4e-4  # per pixel, towards the network's ab; small, so hints carry far along even regions
# PCG iterations on the network-size grid and on each coarser one: the coarse grids are cheap and carry colour
# far; the finest only has to settle edges, as the coarse change reaches it bilinearly enlarged (nearest-neighbour
# blocks took 10 iterations to smooth and scored 0.07-0.1 dB lower). On the 105 val photos 3 + 15 scored
# 29.41 / 32.27 / 33.43 dB at 0.1 / 0.5 / 1 % hints against 29.38 / 32.26 / 33.36 for 10 + 40 with
# nearest-neighbour starts, at a third of the cost (each 256x256 iteration took 1.4 ms of one core in numpy). With
# the coarsest grid solved exactly, 2 at the network size scored within 0.011 dB of 3 on val but left colour a
# pixel across strong edges (tests/runtime/test_runtime_refine.py); 10 instead of 15 lost 0.044 dB at 0.5 %.
ITERATIONS = 3
COARSE_ITERATIONS = 15
LEVELS = 3  # coarser grids below the network size (each half the previous), while sides stay even and >= MIN_SIDE
MIN_SIDE = 32
# The coarsest grid has to carry colour all the way across: CG took as many iterations as the grid is wide and high
# (64 at 32x32). A grid whose shorter side is at most this is solved exactly instead (0.5 ms at 32x32, 5 ms at
# 64x64), which also scored up to 0.05 dB higher on val (MODEL.md); stopping at 64x64 instead (one level fewer)
# lost 0.14 dB with 10 clicks.
DIRECT_MAX_SIDE = 64


# Links across edges sharper than about 13 L* are kept at exp(-40) instead of falling to float32 denormals: 1e-14 of
# the weakest data term, so nothing changes but time. On photos a quarter of the links fell below 1e-30, and
# arithmetic on denormals made conjugate gradients up to 3x slower.
_MIN_EXPONENT = -40.0


@dataclass(frozen=True)
class _System:
    """(diag(d) + graph Laplacian) u = b on one grid, scaled to unit diagonal: solve() runs plain conjugate
    gradients on S A S (S = diag^-1/2), which is Jacobi-preconditioned CG on A without a preconditioner step,
    compiled. Made from grid_solvers.scaled_system's (S, S A S's links, S b), in that order."""

    scale: np.ndarray  # (h, w) S
    horizontal: np.ndarray  # (h, w - 1) links to the right neighbour
    vertical: np.ndarray  # (h - 1, w) links to the neighbour below
    rhs: np.ndarray  # (2, h, w) S b

    def solve_exactly(self) -> np.ndarray:
        """The exact solution (2, h, w), float32 (msau.runtime.grid_solvers)."""
        horizontal, vertical, rhs = self.horizontal, self.vertical, self.rhs
        transposed = rhs.shape[2] > rhs.shape[1]
        if transposed:  # the band as wide as the shorter side: the cost grows with the cube of its width
            horizontal, vertical, rhs = vertical.T, horizontal.T, rhs.transpose(0, 2, 1)
        solution = grid_solvers.solve_exactly(
            np.ascontiguousarray(horizontal), np.ascontiguousarray(vertical), np.ascontiguousarray(rhs)
        )
        return (solution.transpose(0, 2, 1) if transposed else solution) * self.scale

    def solve(self, start: np.ndarray, iterations: int) -> np.ndarray:
        """Conjugate gradients from start (2, h, w), every plane on its own; float32."""
        y = np.ascontiguousarray(start / self.scale, dtype=np.float32)  # S^-1 u
        grid_solvers.conjugate_gradients(self.horizontal, self.vertical, self.rhs, y, iterations)
        return y * self.scale  # u = S y


def _float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)  # no copy when it already is


@dataclass(frozen=True)
class _Grid:
    """The propagation's inputs on one grid, float32: lightness and mask (h, w), hints and prior (2, h, w)."""

    lightness: np.ndarray
    mask: np.ndarray
    hints: np.ndarray
    prior: np.ndarray

    def coarsens(self) -> bool:
        height, width = self.lightness.shape
        return min(height, width) >= 2 * MIN_SIDE and height % 2 == 0 and width % 2 == 0

    def coarser(self) -> _Grid:
        lightness, mask, hints, prior = grid_solvers.coarse_grid(self.lightness, self.mask, self.hints, self.prior)
        return _Grid(lightness, mask, hints, prior)


def _pyramid(lightness: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, prior: np.ndarray, levels: int) -> list[_Grid]:
    """The grids of the cascade, finest first: up to levels coarser ones, each half the previous. They do not depend
    on the edge width, so every width of a blend shares them."""
    grids = [_Grid(_float32(lightness), _float32(mask), _float32(hint_ab), _float32(prior))]
    while len(grids) <= levels and grids[-1].coarsens():
        grids.append(grids[-1].coarser())
    return grids


def _solve_cascade(
    grids: list[_Grid], sigma: float, hint_weight: float, prior_weight: float, iterations: int, coarse_iterations: int
) -> np.ndarray:
    """ab (2, h, w) on the finest of grids: the coarsest solved outright, each finer one by CG from the coarser's
    solution; iterations on the finest grid, coarse_iterations on the others."""

    def system(grid: _Grid) -> _System:
        return _System(
            *grid_solvers.scaled_system(
                grid.lightness, grid.mask, grid.hints, grid.prior, sigma, hint_weight, prior_weight, _MIN_EXPONENT
            )
        )

    coarsest = grids[-1]
    height, width = coarsest.lightness.shape
    if min(height, width) <= DIRECT_MAX_SIDE:
        solution = system(coarsest).solve_exactly()
    else:
        # Too large to solve exactly (a network size of 1024 and more): CG from the prior alone, which carries colour
        # one pixel per iteration at most, so as many iterations as the grid is wide and high.
        solution = system(coarsest).solve(coarsest.prior, max(iterations, coarse_iterations, height + width))
    for level in range(len(grids) - 2, -1, -1):
        grid, coarse = grids[level], grids[level + 1]
        height, width = grid.lightness.shape
        # Upsample the change to the prior, not the coarse colours: keeps the network's detail and, where no hint
        # reaches, the prior itself (a region the coarse solve left alone starts converged). Bilinearly: a smooth
        # start leaves the fine iterations only the edges to settle.
        change = [cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR) for plane in solution - coarse.prior]
        solution = system(grid).solve(grid.prior + np.stack(change), iterations if level == 0 else coarse_iterations)
    return solution


def propagate(
    lightness: np.ndarray,
    hint_ab: np.ndarray,
    mask: np.ndarray,
    prior: np.ndarray,
    sigma: float,
    hint_weight: float = HINT_WEIGHT,
    prior_weight: float = PRIOR_WEIGHT,
    iterations: int = ITERATIONS,
    levels: int = LEVELS,
    coarse_iterations: int = COARSE_ITERATIONS,
) -> np.ndarray:
    """ab (2, h, w): the hints (2, h, w) where mask (h, w) in [0, 1] is set, spread along lightness (h, w, L*
    units) across edges of about sigma L* and blended with prior (2, h, w). All float32."""
    grids = _pyramid(lightness, hint_ab, mask, prior, levels)
    return _solve_cascade(grids, sigma, hint_weight, prior_weight, iterations, coarse_iterations)


@functools.lru_cache(maxsize=1)
def _solver_threads(process: int) -> ThreadPoolExecutor:
    """Threads for all widths but the last, which the caller solves itself. The executor's default size (cores + 4,
    at most 32): it starts a thread only when none is idle, so one caller uses one, and msau-run's finishing threads
    do not queue behind each other's solves. Keyed by process id: a forked child (multiprocessing) inherits the
    pool object but not its threads, and would wait on it forever."""
    return ThreadPoolExecutor(thread_name_prefix="msau-propagate")


def propagate_blend(
    lightness: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, prior: np.ndarray, sigmas: tuple[float, ...] = EDGE_SIGMAS
) -> np.ndarray:
    """The mean (2, h, w) of propagate()'s solutions at each edge width in sigmas, on one shared pyramid of grids.
    The solves run in parallel (numba releases the GIL): at 256x256 two widths took 4.7 ms where one took 3.8 and
    both in turn 7.6."""
    grids = _pyramid(lightness, hint_ab, mask, prior, LEVELS)
    settings = (HINT_WEIGHT, PRIOR_WEIGHT, ITERATIONS, COARSE_ITERATIONS)
    *others, last = sigmas
    pool = _solver_threads(os.getpid())
    pending = [pool.submit(_solve_cascade, grids, sigma, *settings) for sigma in others]
    total = _solve_cascade(grids, last, *settings)
    for solve in pending:
        total += solve.result()
    return total / np.float32(len(sigmas))


def edge_lightness(x: np.ndarray) -> np.ndarray:
    """The lightness (h, w) in L* units the links are computed from, for a contract input x (4, h, w)."""
    return cv2.GaussianBlur(np.ascontiguousarray(x[CHANNEL_L], dtype=np.float32) * L_SCALE, (0, 0), EDGE_BLUR)


def refine_with_hints(ab: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ab (2, h, w) of the network, corrected by its errors at the hints (msau.runtime.hint_transfer) and
    propagated from the hints of its contract input x (4, h, w); the same array when x has no hints."""
    mask = np.ascontiguousarray(x[CHANNEL_MASK], dtype=np.float32)
    if not mask.any():
        return ab
    hints = np.stack([x[CHANNEL_A_HINT], x[CHANNEL_B_HINT]]).astype(np.float32)
    prior = np.asarray(ab, np.float32) + hint_correction(ab, x)
    return propagate_blend(edge_lightness(x), hints, mask, prior)
