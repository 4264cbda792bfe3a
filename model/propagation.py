"""The runtime's hint propagation (msau.runtime.refine) in torch, batched and differentiable in the prior.

msau-run serves the network's ab only after propagating the hints with it as the prior, so the network is best
trained for that: ``msau-train --propagation-loss W`` scores the propagated ab as well as the raw one. The runtime
cannot import torch, so the solver is mirrored here step for step (the same constants, grids and iteration counts);
tests/model/test_model_propagation.py holds the two to the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from msau.runtime.contract import AB_LIMIT, CHANNEL_A_HINT, CHANNEL_B_HINT, CHANNEL_L, CHANNEL_MASK, L_SCALE
from msau.runtime.hint_transfer import FEATURE_SCALES, SHRINK, cell_size, sample_cell_size
from msau.runtime.refine import COARSE_ITERATIONS, EDGE_SIGMA, HINT_WEIGHT, ITERATIONS, LEVELS, PRIOR_WEIGHT


class _System:
    """(diag(d) + graph Laplacian) per image; apply() multiplies (N, 2, h, w) planes by it."""

    def __init__(self, lightness: torch.Tensor, data_weight: torch.Tensor, sigma: float) -> None:
        scale = -0.5 / (sigma * sigma)
        lightness = lightness[:, None]  # (N, 1, h, w): links are shared by both channels
        self.horizontal = torch.exp(torch.square(lightness[..., 1:] - lightness[..., :-1]) * scale)
        self.vertical = torch.exp(torch.square(lightness[..., 1:, :] - lightness[..., :-1, :]) * scale)
        self.data_weight = data_weight[:, None]
        degree = F.pad(self.horizontal, (0, 1)) + F.pad(self.horizontal, (1, 0))
        degree = degree + F.pad(self.vertical, (0, 0, 0, 1)) + F.pad(self.vertical, (0, 0, 1, 0))
        self.inverse_diagonal = 1.0 / (self.data_weight + degree)

    def apply(self, u: torch.Tensor) -> torch.Tensor:
        flow = self.horizontal * (u[..., 1:] - u[..., :-1])  # (N, 2, h, w-1)
        out = self.data_weight * u - F.pad(flow, (0, 1)) + F.pad(flow, (1, 0))
        flow = self.vertical * (u[..., 1:, :] - u[..., :-1, :])
        return out - F.pad(flow, (0, 0, 0, 1)) + F.pad(flow, (0, 0, 1, 0))

    def solve(self, rhs: torch.Tensor, start: torch.Tensor, iterations: int) -> torch.Tensor:
        u = start
        residual = rhs - self.apply(u)
        z = self.inverse_diagonal * residual
        direction = z
        rz = (residual * z).sum(dim=(-2, -1), keepdim=True)
        for _ in range(iterations):
            product = self.apply(direction)
            curvature = (direction * product).sum(dim=(-2, -1), keepdim=True)
            step = rz / curvature.clamp_min(1e-30)
            u = u + step * direction
            residual = residual - step * product
            z = self.inverse_diagonal * residual
            rz_next = (residual * z).sum(dim=(-2, -1), keepdim=True)
            direction = z + (rz_next / rz.clamp_min(1e-30)) * direction
            rz = rz_next
        return u


def _half(planes: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(planes, 2)  # what cv2.INTER_AREA does for an exact halving


def propagate(
    lightness: torch.Tensor,
    hint_ab: torch.Tensor,
    mask: torch.Tensor,
    prior: torch.Tensor,
    levels: int = LEVELS,
    iterations: int = ITERATIONS,
) -> torch.Tensor:
    """ab (N, 2, h, w) as msau.runtime.refine.propagate computes it, per image: lightness (N, h, w) in L* units,
    hint_ab (N, 2, h, w), mask (N, h, w), prior (N, 2, h, w). float32."""
    height, width = lightness.shape[-2:]
    if levels > 0 and min(height, width) >= 64 and height % 2 == 0 and width % 2 == 0:
        coarse_mask = _half(mask[:, None])[:, 0]
        coarse_hints = _half(hint_ab * mask[:, None]) / coarse_mask[:, None].clamp_min(1e-6)
        coarse_prior = _half(prior)
        coarse = propagate(_half(lightness[:, None])[:, 0], coarse_hints, coarse_mask, coarse_prior, levels - 1,
                           COARSE_ITERATIONS)
        start = prior + F.interpolate(coarse - coarse_prior, size=(height, width), mode="nearest")
    else:
        start = prior
        iterations = max(iterations, COARSE_ITERATIONS, height + width)
    data_weight = PRIOR_WEIGHT + HINT_WEIGHT * mask
    rhs = PRIOR_WEIGHT * prior + (HINT_WEIGHT * mask[:, None]) * hint_ab
    return _System(lightness, data_weight, EDGE_SIGMA).solve(rhs, start, iterations)


def _cell_features(ab: torch.Tensor, lightness: torch.Tensor, size: int) -> torch.Tensor:
    """(cells, 5) scaled features (a, b, L, y, x) of one image's cells of side size: ab (2, h, w), L (1, h, w)."""
    height = ab.shape[-2]
    cell_ab = F.avg_pool2d(ab, size)  # (2, rows, columns)
    rows, columns = cell_ab.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(rows, dtype=ab.dtype, device=ab.device),
                            torch.arange(columns, dtype=ab.dtype, device=ab.device), indexing="ij")
    planes = torch.stack([cell_ab[0], cell_ab[1], F.avg_pool2d(lightness, size)[0], (ys + 0.5) * size / height,
                          (xs + 0.5) * size / height])
    scales = torch.tensor(FEATURE_SCALES, dtype=ab.dtype, device=ab.device)[:, None]
    return (planes.reshape(5, -1) / scales).T


def hint_correction(ab: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """msau.runtime.hint_transfer.hint_correction per image of ab (N, 2, h, w) and x (N, 4, h, w). Sides must be
    multiples of the cell sizes (training crops are multiples of 16), where average pooling equals cv2.INTER_AREA."""
    height, width = ab.shape[-2:]
    size = cell_size(height, width)
    hints = torch.stack([x[:, CHANNEL_A_HINT], x[:, CHANNEL_B_HINT]], dim=1)
    corrections = []
    for image in range(ab.shape[0]):
        mask = x[image, CHANNEL_MASK : CHANNEL_MASK + 1]  # (1, h, w)
        lightness = x[image, CHANNEL_L : CHANNEL_L + 1]
        queries = _cell_features(ab[image], lightness, size)  # (cells, 5)
        rows, columns = height // size, width // size
        if not bool(mask.gt(0).any()):
            corrections.append(ab.new_zeros(2, rows, columns))
            continue
        pooled = sample_cell_size(mask[0].detach().cpu().numpy())  # dense hints are pooled in larger cells
        cell_mask = F.avg_pool2d(mask, pooled).flatten()
        hinted = cell_mask > 0
        samples = (queries if pooled == size else _cell_features(ab[image], lightness, pooled))[hinted]
        residual = F.avg_pool2d((hints[image] - ab[image]) * mask, pooled).reshape(2, -1)[:, hinted] / cell_mask[hinted]
        weights = torch.exp(-0.5 * torch.cdist(queries, samples).square())  # (cells, hinted cells)
        correction = (weights @ residual.T) / (weights.sum(dim=1, keepdim=True) + SHRINK)
        corrections.append(correction.T.reshape(2, rows, columns))
    return F.interpolate(torch.stack(corrections), size=(height, width), mode="bilinear", align_corners=False)


def propagate_from_input(ab: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The network's ab (N, 2, h, w) propagated from the hints of its contract input x (N, 4, h, w), as msau-run
    serves it (msau.runtime.refine.refine_with_hints: corrected, then propagated), differentiable in ab."""
    x = x.float()
    ab = ab.float().clamp(-AB_LIMIT, AB_LIMIT)  # as msau.runtime.encoding.finish does before propagating
    mask = x[:, CHANNEL_MASK]
    hints = torch.stack([x[:, CHANNEL_A_HINT], x[:, CHANNEL_B_HINT]], dim=1)
    propagated = propagate(x[:, CHANNEL_L] * L_SCALE, hints, mask, ab + hint_correction(ab, x))
    # The runtime leaves an image without hints as the network made it.
    has_hints = mask.flatten(1).gt(0).any(dim=1)[:, None, None, None]
    return torch.where(has_hints, propagated, ab)
