"""Shared fixtures, markers and settings for the whole test suite (tests/model, tests/export, tests/runtime, ...).

Tests stay small: tiny networks, images of a few dozen pixels, data generated in tmp_path, never ../shared.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

# Torch and OpenCV size their thread pools from the machine; on a 2-core CI box beside other work,
# oversubscription makes the suite slower, not faster. The env var must be set before torch is imported.
TEST_THREADS = max(1, min(2, os.cpu_count() or 1))
os.environ.setdefault("OMP_NUM_THREADS", str(TEST_THREADS))

# Widths small enough that a forward/backward pass on 64x64 takes milliseconds; same architecture as the presets.
TINY_WIDTHS = (4, 8, 16, 32, 64)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU with CUDA (skipped where none is visible)")
    config.addinivalue_line("markers", "tensorrt: needs TensorRT and an NVIDIA GPU (skipped where either is missing)")


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is not None:
        import torch

        return bool(torch.cuda.is_available())
    # Without torch, fall back to the driver's device nodes.
    return Path("/dev/nvidiactl").exists()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wants_gpu = [item for item in items if "gpu" in item.keywords or "tensorrt" in item.keywords]
    if not wants_gpu:
        return
    has_gpu = _cuda_available()
    has_tensorrt = importlib.util.find_spec("tensorrt") is not None
    for item in wants_gpu:
        if not has_gpu:
            item.add_marker(pytest.mark.skip(reason="no NVIDIA GPU visible"))
        elif "tensorrt" in item.keywords and not has_tensorrt:
            item.add_marker(pytest.mark.skip(reason="TensorRT is not installed (pip install 'msau[tensorrt]')"))


@pytest.fixture(autouse=True)
def _torch_threads() -> None:
    """Cap torch's intra-op threads once torch is in use (runtime tests never import it)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != int(os.environ["OMP_NUM_THREADS"]):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator: every test sees the same 'random' data on every run."""
    return np.random.default_rng(1234)


def colourful_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A saturated RGB uint8 test photo (H, W, 3): smooth gradients plus a few flat shapes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    freq = rng.uniform(1.0, 3.0, size=3)
    image = np.stack(
        [0.5 + 0.5 * np.sin(freq[c] * np.pi * (xx / width + (c + 1) * yy / height) + phase[c]) for c in range(3)],
        axis=-1,
    )
    for _ in range(3):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.1, 0.3) * min(height, width)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        image[inside] = rng.uniform(0, 1, size=3)
    top, left = int(rng.integers(0, height // 2)), int(rng.integers(0, width // 2))
    image[top : top + height // 4, left : left + width // 3] = rng.uniform(0, 1, size=3)
    return (image * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="session")
def make_image() -> Callable[..., np.ndarray]:
    """Factory of colourful RGB uint8 images: make_image(height, width, seed=0)."""
    return colourful_image


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB(A) uint8/uint16 array as PNG with OpenCV (which wants BGR(A) order)."""
    import cv2

    if rgb.ndim == 3 and rgb.shape[2] == 4:
        data = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA)
    elif rgb.ndim == 3:
        data = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    else:
        data = rgb
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), data):
        raise OSError(f"could not write {path}")
    return path


@pytest.fixture(scope="session")
def save_png() -> Callable[[Path, np.ndarray], Path]:
    """save_png(path, rgb_or_rgba) -> path: writes a PNG in RGB(A) order."""
    return write_png


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder of four colourful 96x128 PNG photos (one in a subfolder, to exercise the recursive search)."""
    folder = tmp_path / "photos"
    for i in range(4):
        sub = folder / "more" if i == 3 else folder
        write_png(sub / f"photo{i}.png", colourful_image(96, 128, seed=i))
    return folder


@pytest.fixture(scope="session")
def tiny_widths() -> tuple[int, ...]:
    """Encoder widths of the test networks (import this fixture; never import conftest, which pytest owns)."""
    return TINY_WIDTHS


@pytest.fixture
def tiny_model():
    """A seeded MSAU-Net with TINY_WIDTHS in eval mode (needs torch)."""
    import torch

    from msau.model.network import create_model

    torch.manual_seed(0)
    return create_model("tiny", widths=TINY_WIDTHS).eval()


def assert_same_colours(actual: np.ndarray, expected: np.ndarray, what: str = "") -> None:
    """Two colourings of one photo by the same pipeline agree: the same shape, and value by value within one uint8
    step, at most 1 % of values a step apart. Not bit for bit: the propagation's solves for its two edge widths run
    in threads, and their float32 sums can round differently from one call to the next (seen: 2e-7 to 5e-6 in ab), which
    moves a value that sits on a rounding boundary by one step. Anything more is a real difference."""
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    difference = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    apart = np.count_nonzero(difference)
    assert difference.max(initial=0) <= 1 and apart <= 0.01 * difference.size, (
        f"{what}: {apart} of {difference.size} values differ, by up to {difference.max()}"
    )


@pytest.fixture
def same_colours() -> Callable[..., None]:
    """assert_same_colours, for tests in any folder (conftest helpers are not importable)."""
    return assert_same_colours
