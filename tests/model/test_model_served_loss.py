"""The served loss: its torch finish is the runtime's, and its gradient is the finish's own."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
import torch

from msau.model.data import make_example
from msau.model.served_loss import finished_ab, served_log_mse
from msau.runtime.hints import sample_clicks, sample_hints
from msau.runtime.refine import refine_with_hints

SIDE = 128  # three grids (128, 64, 32), the coarsest solved exactly, as at the training crops' 192


@pytest.fixture(scope="module")
def batch(make_image: Callable) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x (3, 4, SIDE, SIDE), target ab (3, 2, ...), a network-like prediction: the target blurred and shifted)."""
    examples = []
    for seed, draw in enumerate((lambda p: sample_hints(p, 0.005, 1), lambda p: sample_clicks(p, 12, 2), lambda p: sample_hints(p, 0.02, 3))):
        photo = make_image(SIDE, SIDE, seed=seed)
        examples.append(make_example(photo, draw(photo)))
    x = torch.from_numpy(np.stack([e[0] for e in examples]))
    target = torch.from_numpy(np.stack([e[1] for e in examples]))
    prediction = torch.nn.functional.avg_pool2d(target, 9, stride=1, padding=4) * 0.8 + 0.05
    return x, target, prediction


def test_finish_is_the_runtimes(batch: tuple) -> None:
    x, _, prediction = batch
    ours = finished_ab(prediction, x).numpy()
    runtime = np.stack([refine_with_hints(np.clip(p, -1, 1), xi) for p, xi in zip(prediction.numpy(), x.numpy())])
    # Measured 4e-5 on val photos: float32 sums in another order.
    np.testing.assert_allclose(ours, runtime, atol=2e-4)


def test_gradient_is_the_finishs(batch: tuple) -> None:
    x, target, prediction = batch
    leaf = prediction.clone().requires_grad_(True)
    served_log_mse(leaf, x, target).backward()
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        # Small steps: log(MSE) curves within a few hundredths on these smooth photos.
        direction = torch.randn(prediction.shape, generator=generator) * 0.001
        with torch.no_grad():
            difference = (served_log_mse(prediction + direction, x, target) - served_log_mse(prediction - direction, x, target)) / 2
        assert float((leaf.grad * direction).sum()) == pytest.approx(float(difference), rel=0.03, abs=1e-6)


def test_samples_without_hints_are_scored_as_they_are(batch: tuple) -> None:
    x, target, prediction = batch
    bare = x.clone()
    bare[0, 1:] = 0  # the first sample loses its hints: the finish passes its ab through
    leaf = prediction.clone().requires_grad_(True)
    served_log_mse(leaf, bare, target).backward()
    mse = ((prediction[0] - target[0]) ** 2).mean()
    # d/dp of log(mse + floor) / N for the unhinted sample alone: 2 (p - t) / (size (mse + floor) N)
    expected = 2 * (prediction[0] - target[0]) / (prediction[0].numel() * (mse + 1e-4) * len(prediction))
    torch.testing.assert_close(leaf.grad[0], expected, rtol=1e-4, atol=1e-9)
    none = torch.zeros_like(x)
    none[:, 0] = x[:, 0]
    plain = torch.log(((prediction - target) ** 2).mean(dim=(1, 2, 3)) + 1e-4).mean()
    assert float(served_log_mse(prediction, none, target)) == pytest.approx(float(plain), rel=1e-6)
