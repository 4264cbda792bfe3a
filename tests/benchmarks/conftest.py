"""Fixtures of the benchmark tests: a tiny exported model (ONNX + safetensors) and fake backends with a fake
clock, so that the harness logic is tested without timing anything real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from msau.runtime.contract import OUTPUT_CHANNELS

TINY_BENCH_WIDTHS = (4, 8, 16, 32, 64)


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory) -> Path:
    """A folder with bench.onnx and bench.safetensors of one seeded tiny MSAU-Net; returns the ONNX path."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from msau.export.onnx_export import export_onnx
    from msau.model.checkpoint import save_checkpoint
    from msau.model.network import create_model

    torch.manual_seed(0)
    model = create_model("tiny", widths=TINY_BENCH_WIDTHS).eval()
    folder = tmp_path_factory.mktemp("bench-model")
    save_checkpoint(folder / "bench.safetensors", model)
    return export_onnx(model, folder / "bench.onnx", size=32)


class FakeClock:
    """A clock that only moves when a fake backend runs: run counts follow from the settings exactly."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeBackend:
    """Takes seconds_per_image x batch of fake time per infer; returns zeros of the contract's output shape."""

    name = "fake"

    def __init__(self, clock: FakeClock, seconds_per_image: float, first_extra: float = 0.0) -> None:
        self.clock = clock
        self.seconds_per_image = seconds_per_image
        self.first_extra = first_extra
        self.calls: list[int] = []
        self.closed = False

    def infer(self, x: np.ndarray) -> np.ndarray:
        extra = self.first_extra if not self.calls else 0.0
        self.calls.append(x.shape[0])
        self.clock.now += self.seconds_per_image * x.shape[0] + extra
        return np.zeros((x.shape[0], OUTPUT_CHANNELS) + x.shape[2:], np.float32)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_backend_class() -> type[FakeBackend]:
    """The FakeBackend class (tests subclass it to break it in chosen ways)."""
    return FakeBackend
