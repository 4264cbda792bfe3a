"""A training loss on what msau-run delivers: the network's ab after the runtime's hint correction and propagation.

The network is trained on its own output, but users see it only through the runtime's finish, which pins the
hints and carries them along even lightness: the network's errors near hints hardly matter there, those far from
any hint matter in full. This loss scores the finished ab against the photo's. The propagation is rebuilt here in
torch, the same cascade as msau.runtime.refine (the same grids, systems and iteration counts; the systems
themselves, which depend on the lightness and the hints only, come from the runtime's own compiled code), so that
the gradient reaches the network through it, conjugate gradients' step sizes included. The coarsest grid is
solved exactly by the runtime's solver both ways (its matrix is symmetric). The hint correction
(msau.runtime.hint_transfer) is rebuilt the same way: the network's errors at the hints spread over pixels that
look alike, the network's colours among the features. tests/model/test_model_served_loss.py keeps both twins equal
to the runtime's.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from msau.runtime import grid_solvers, hint_transfer, refine
from msau.runtime.contract import AB_LIMIT, CHANNEL_A_HINT, CHANNEL_B_HINT, CHANNEL_L, CHANNEL_MASK

# Keeps log(MSE) finite on images the finish gets (nearly) right, e.g. gray ones: an a*b* error of about 1 unit.
_MSE_FLOOR = 1e-4


class _ExactSolve(torch.autograd.Function):
    """y (N, 2, h, w) = (S A S)^-1 rhs per sample, by the runtime's banded Cholesky; the matrix is symmetric, so the
    gradient is the same solve of the incoming gradient."""

    @staticmethod
    def forward(ctx, rhs: torch.Tensor, systems: list) -> torch.Tensor:
        ctx.systems = systems
        return _ExactSolve.solve(rhs, systems)

    @staticmethod
    def solve(rhs: torch.Tensor, systems: list) -> torch.Tensor:
        planes = rhs.detach().cpu().numpy()
        solved = [
            refine._System(np.ones_like(system.scale), system.horizontal, system.vertical, np.ascontiguousarray(plane)).solve_exactly()
            for plane, system in zip(planes, systems)
        ]
        return torch.from_numpy(np.stack(solved)).to(rhs.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _ExactSolve.solve(grad.contiguous(), ctx.systems), None


def _links(systems: list) -> torch.Tensor:
    """(N, 4, h, w) each pixel's links to its left, right, upper and lower neighbour (0 at the borders)."""
    return torch.from_numpy(np.stack([grid_solvers._padded_links(s.horizontal, s.vertical) for s in systems]))


def _product(links: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """(I - links) p for p (N, 2, h, w)."""
    padded = F.pad(p, (1, 1, 1, 1))
    left, right, up, down = (links[:, k : k + 1] for k in range(4))
    return (
        p
        - left * padded[..., 1:-1, :-2]
        - right * padded[..., 1:-1, 2:]
        - up * padded[..., :-2, 1:-1]
        - down * padded[..., 2:, 1:-1]
    )


def _conjugate_gradients(links: torch.Tensor, rhs: torch.Tensor, y: torch.Tensor, iterations: int) -> torch.Tensor:
    """grid_solvers.conjugate_gradients in torch, each plane on its own, differentiable."""
    residual = rhs - _product(links, y)
    direction = residual
    rr = (residual * residual).sum(dim=(-2, -1), keepdim=True)
    for _ in range(iterations):
        product = _product(links, direction)
        curvature = (direction * product).sum(dim=(-2, -1), keepdim=True)
        step = rr / curvature.clamp_min(1e-30)
        y = y + step * direction
        residual = residual - step * product
        rr_next = (residual * residual).sum(dim=(-2, -1), keepdim=True)
        direction = residual + rr_next / rr.clamp_min(1e-30) * direction
        rr = rr_next
    return y


def _cascade(grids: list[list], prior: torch.Tensor, sigma: float) -> torch.Tensor:
    """refine._solve_cascade for a batch: grids[n] the runtime's pyramid of sample n, prior (N, 2, h, w) its
    finest prior; returns the finished ab (N, 2, h, w), differentiable in prior."""
    levels = len(grids[0])
    priors = [prior]
    for _ in range(levels - 1):
        priors.append(F.avg_pool2d(priors[-1], 2))
    settings = (sigma, refine.HINT_WEIGHT, refine.PRIOR_WEIGHT, refine._MIN_EXPONENT)

    def system(level: int) -> tuple[list, torch.Tensor, torch.Tensor]:
        """The samples' systems at a level, their scale S and S b, b built from this batch's prior."""
        systems, pinned = [], []
        for pyramid in grids:
            grid = pyramid[level]
            systems.append(refine._System(*grid_solvers.scaled_system(grid.lightness, grid.mask, grid.hints, grid.prior, *settings)))
            pinned.append(np.float32(refine.HINT_WEIGHT) * grid.mask * grid.hints)
        scale = torch.from_numpy(np.stack([s.scale for s in systems]))[:, None]  # (N, 1, h, w)
        rhs = scale * (refine.PRIOR_WEIGHT * priors[level] + torch.from_numpy(np.stack(pinned)))
        return systems, scale, rhs

    systems, scale, rhs = system(levels - 1)
    if min(grids[0][-1].lightness.shape) > refine.DIRECT_MAX_SIDE:
        raise ValueError("the served loss needs crops whose coarsest grid the runtime solves exactly")
    solution = _ExactSolve.apply(rhs, systems) * scale
    for level in range(levels - 2, -1, -1):
        height, width = priors[level].shape[-2:]
        change = F.interpolate(solution - priors[level + 1], size=(height, width), mode="bilinear", align_corners=False)
        systems, scale, rhs = system(level)
        iterations = refine.ITERATIONS if level == 0 else refine.COARSE_ITERATIONS
        y = _conjugate_gradients(_links(systems), rhs, (priors[level] + change) / scale, iterations)
        solution = y * scale
    return solution


def _hint_correction(ab: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """hint_transfer.hint_correction for a batch (N, 2, h, w), differentiable in ab; for sides that the cells
    divide and hints sparse enough to be pooled in the query cells (training crops), else the runtime's, detached."""
    height, width = ab.shape[-2:]
    size = hint_transfer.cell_size(height, width)
    mask = x[:, CHANNEL_MASK : CHANNEL_MASK + 1]
    pooled = all(hint_transfer.sample_cell_size(m[0]) == size for m in mask.detach().cpu().numpy())
    if height % size or width % size or not pooled:
        ab_np, x_np = ab.detach().cpu().numpy(), x.detach().float().cpu().numpy()
        return torch.from_numpy(np.stack([hint_transfer.hint_correction(a, xi) for a, xi in zip(ab_np, x_np)]))
    hints = x[:, [CHANNEL_A_HINT, CHANNEL_B_HINT]]
    cell_ab = F.avg_pool2d(ab, size)  # (N, 2, rows, columns)
    cell_lightness = F.avg_pool2d(x[:, CHANNEL_L : CHANNEL_L + 1], size)
    cell_mask = F.avg_pool2d(mask, size)
    cell_residual = F.avg_pool2d((hints - ab) * mask, size)
    rows, columns = cell_ab.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(rows) + 0.5, torch.arange(columns) + 0.5, indexing="ij")
    position = torch.stack([ys, xs])[None].expand(len(ab), -1, -1, -1) / rows
    scales = torch.tensor(hint_transfer.FEATURE_SCALES)[None, :, None, None]
    features = (torch.cat([cell_ab, cell_lightness, position], dim=1) / scales).flatten(2).transpose(1, 2)  # (N, cells, 5)
    corrections = []
    for feature, weight, residual in zip(features, cell_mask.flatten(1), cell_residual.flatten(2)):
        hinted = weight > 0
        samples, mean_residual = feature[hinted], residual[:, hinted] / weight[hinted]  # (k, 5), (2, k)
        exponent = (-0.5 * torch.cdist(feature, samples) ** 2).clamp_min(-80.0)  # (cells, k)
        kernel = torch.exp(exponent)
        corrections.append((kernel @ mean_residual.T) / (kernel.sum(dim=1, keepdim=True) + hint_transfer.SHRINK))
    grid = torch.stack(corrections).transpose(1, 2).reshape(len(ab), 2, rows, columns)
    return F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)


def finished_ab(prediction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """What msau-run makes of the network's ab (N, 2, h, w) for contract inputs x (N, 4, h, w): clipped, corrected
    at the hints and propagated (msau.runtime.refine.refine_with_hints), differentiable in prediction. Every sample
    needs hints."""
    ab = prediction.float().clamp(-AB_LIMIT, AB_LIMIT)
    x = x.float()
    prior = ab + _hint_correction(ab, x)
    grids = []
    for xi in x.detach().cpu().numpy():
        hints = np.stack([xi[CHANNEL_A_HINT], xi[CHANNEL_B_HINT]]).astype(np.float32)
        mask = np.ascontiguousarray(xi[CHANNEL_MASK], dtype=np.float32)
        # The grids' own priors only serve the systems' right-hand sides, which are rebuilt from the batch's prior.
        grids.append(refine._pyramid(refine.edge_lightness(xi), hints, mask, np.zeros_like(hints), refine.LEVELS))
    solutions = [_cascade(grids, prior, sigma) for sigma in refine.EDGE_SIGMAS]
    return torch.stack(solutions).mean(dim=0)


def served_log_mse(prediction: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of log(MSE) of the finished ab against the target's (N, 2, h, w): PSNR's own form, in
    contract units rather than sRGB. Samples without hints are finished as msau-run finishes them: not at all."""
    finished = prediction.float().clamp(-AB_LIMIT, AB_LIMIT)
    hinted = x[:, CHANNEL_MASK].flatten(1).amax(dim=1) > 0
    if bool(hinted.any()):
        index = hinted.nonzero().flatten()
        finished = finished.index_copy(0, index, finished_ab(prediction[index], x[index]))
    mse = ((finished - target.float()) ** 2).mean(dim=(1, 2, 3))
    return torch.log(mse + _MSE_FLOOR).mean()
