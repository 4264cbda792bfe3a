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


# An example's colour original made gray by OpenCV (Rec. 601 luma), hints at 0.5 % of its pixels taken from the
# original (seed 0): read by the hints as luma (gray_from "auto") against the contract's lightness. Measured
# (onnxruntime fp32): garden 31.07 against 25.39 dB, kite 34.64 against 27.49.
LUMA_GAIN_FLOOR = {"garden": 4.0, "kite": 5.0}


@pytest.mark.parametrize("stem", sorted(LUMA_GAIN_FLOOR))
def test_a_luma_gray_told_by_its_hints_is_served_as_luma(stem):
    import cv2

    from msau.runtime.hints import sample_hints

    truth = read_image(EXAMPLES / "color" / f"{stem}.jpg")
    gray, hints = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY), sample_hints(truth, 0.005, 0)
    with Colorizer(backend="onnxruntime") as auto, Colorizer(backend="onnxruntime", gray_from="lightness") as contract:
        assert auto.prepare(gray, hints).gray_formula == "rec601"
        as_luma, as_lightness = auto(gray, hints), contract(gray, hints)
    assert psnr(truth, as_luma) >= psnr(truth, as_lightness) + LUMA_GAIN_FLOOR[stem]
    back = np.abs(cv2.cvtColor(as_luma, cv2.COLOR_RGB2GRAY).astype(int) - gray)  # the output made gray again
    assert np.mean(back > 1) < 0.01


def test_backends_agree_on_the_shipped_model():
    gray, hints, _ = _example("garden")
    with Colorizer(backend="onnxruntime", precision="fp32") as ort, Colorizer(backend="torch", precision="fp32") as ref:
        prepared = ref.prepare(gray, hints)
        expected = ref.infer([prepared])
        actual = ort.infer([prepared])
    assert np.abs(actual - expected).max() < PARITY_MAX_ABS_ERROR
