"""The training copy of the hint propagation: the runtime's numbers, batched, and a gradient for the network."""

from __future__ import annotations

import numpy as np
import torch

from msau.model.propagation import propagate_from_input
from msau.runtime.hints import sample_hints
from msau.runtime.encoding import encode
from msau.runtime.refine import refine_with_hints


def _batch(make_image, sizes: list[tuple[int, int]], ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, 4, h, w), network-like ab (N, 2, h, w)): generated photos, their hints, a noisy gray-ish 'network'."""
    rng = np.random.default_rng(5)
    xs, abs_ = [], []
    for i, (height, width) in enumerate(sizes):
        photo = make_image(height, width, seed=20 + i)
        x, _ = encode(photo, sample_hints(photo, ratio, i), (height, width))
        xs.append(x)
        abs_.append(rng.normal(0, 0.3, (2, height, width)).astype(np.float32))  # overshoots +-1 now and then
    return np.stack(xs), np.stack(abs_)


def test_it_computes_what_the_runtime_serves(make_image) -> None:
    # 128 px takes the coarse grids, 48 px not: both code paths of the solver.
    for size in (128, 48):
        x, ab = _batch(make_image, [(size, size)] * 3, 0.01)
        x[2, 1:] = 0  # an image without hints: left as the network made it, as msau-run does
        expected = np.stack([refine_with_hints(np.clip(a, -1, 1), xi) for a, xi in zip(ab, x)])
        got = propagate_from_input(torch.from_numpy(ab), torch.from_numpy(x)).numpy()
        assert float(np.abs(got - expected).max()) < 1e-4, size
        assert np.array_equal(got[2], np.clip(ab[2], -1, 1))


def test_it_pools_dense_hints_as_the_runtime_does(make_image) -> None:
    x, ab = _batch(make_image, [(256, 256)], 0.3)  # more hinted cells than MAX_SAMPLES: larger cells
    expected = refine_with_hints(np.clip(ab[0], -1, 1), x[0])
    got = propagate_from_input(torch.from_numpy(ab), torch.from_numpy(x)).numpy()[0]
    assert float(np.abs(got - expected).max()) < 1e-4


def test_the_gradient_reaches_the_network_everywhere(make_image) -> None:
    x, ab = _batch(make_image, [(64, 64)], 0.005)
    prediction = torch.from_numpy(ab).requires_grad_(True)
    propagate_from_input(prediction, torch.from_numpy(x)).sum().backward()
    gradient = prediction.grad[0, 0].numpy()  # (h, w)
    assert np.isfinite(gradient).all()
    hinted = x[0, 3] > 0
    # Unhinted pixels reach the output through the prior; the network's ab at a hinted pixel decides the error
    # the correction spreads to every pixel alike, so it weighs far more (measured: 0.58 against 35).
    assert np.abs(gradient[~hinted]).mean() > 0.2
    assert np.abs(gradient[hinted]).mean() > 10 * np.abs(gradient[~hinted]).mean()
