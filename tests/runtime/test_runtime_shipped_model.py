"""The model shipped inside the package: present, self-consistent across backends, and as good as its card says.

These use only files the repository ships (msau/models, examples/), never ../shared.
"""

from pathlib import Path

import numpy as np
import pytest

from msau import Colorizer
from msau.export.checks import PARITY_MAX_ABS_ERROR
from msau.runtime.image_io import read_image
from msau.runtime.metrics import psnr
from msau.runtime.models import shipped_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Measured with the shipped model (MODEL.md); a floor 1 dB below, so that a broken model or pipeline fails.
# Measured (onnxruntime fp32, hint correction and propagation on, edge widths 0.75 and 2.0): dragonfly_by_bolly
# 24.59, garden 30.28, kite 31.03, ladybird 28.31 dB.
EXAMPLE_PSNR_FLOOR = {"dragonfly_by_bolly": 23.5, "garden": 29.2, "kite": 30.0, "ladybird": 27.3}


def _example(stem: str) -> tuple[np.ndarray, Path, np.ndarray]:
    hints = next((EXAMPLES / "hints").glob(f"{stem}.*"))
    return read_image(EXAMPLES / "gray" / f"{stem}.png"), hints, read_image(EXAMPLES / "color" / f"{stem}.jpg")


def test_the_shipped_model_files_are_there_and_small():
    onnx_path, weights = shipped_model(".onnx"), shipped_model(".safetensors")
    assert onnx_path.stat().st_size + weights.stat().st_size < 40e6


@pytest.mark.parametrize("stem", sorted(EXAMPLE_PSNR_FLOOR))
def test_the_default_colorizer_reaches_its_measured_quality_on_the_examples(stem):
    gray, hints, truth = _example(stem)
    with Colorizer(backend="onnxruntime") as colorizer:
        result = colorizer(gray, hints)
    assert result.shape == truth.shape
    assert psnr(truth, result) >= EXAMPLE_PSNR_FLOOR[stem]


def test_backends_agree_on_the_shipped_model():
    gray, hints, _ = _example("garden")
    with Colorizer(backend="onnxruntime", precision="fp32") as ort, Colorizer(backend="torch", precision="fp32") as ref:
        prepared = ref.prepare(gray, hints)
        expected = ref.infer([prepared])
        actual = ort.infer([prepared])
    assert np.abs(actual - expected).max() < PARITY_MAX_ABS_ERROR
