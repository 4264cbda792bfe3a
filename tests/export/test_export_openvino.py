"""OpenVINO IR: measured against reading the ONNX directly, written only where it helps."""

from __future__ import annotations

import numpy as np
import pytest

from msau.export import checks
from msau.export.openvino_ir import OpenVinoFigures, decide, measure_openvino, save_ir


def test_measurements_cover_every_source_and_precision(tiny_export, verification):
    figures = measure_openvino(tiny_export[1], verification, repeats=2, load_repeats=1)
    assert {(f.source, f.precision) for f in figures} == {
        (s, p) for s in ("onnx", "ir-fp32", "ir-fp16") for p in ("f32", "bf16")
    }
    by = {(f.source, f.precision): f for f in figures}
    onnx_size = tiny_export[1].stat().st_size / 1e6
    assert by["onnx", "f32"].size_mb == pytest.approx(onnx_size)
    assert by["ir-fp16", "f32"].size_mb < 0.75 * onnx_size  # FP16 weights (the .xml itself is ~0.5 MB)
    assert by["onnx", "f32"].output_psnr >= 60.0  # same graph, same arithmetic as ONNX Runtime
    assert by["ir-fp16", "f32"].output_psnr >= 45.0
    assert all(f.load_seconds > 0 and f.latency_ms > 0 for f in figures)


def test_saved_ir_matches_onnx_runtime(tiny_export, verification, tmp_path):
    import openvino as ov

    xml = save_ir(tiny_export[1], tmp_path / "tiny.xml", compress_to_fp16=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.bin", "tiny.xml"]
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = verification.inputs[:2]
    result = compiled.create_infer_request().infer({0: x})[0]
    assert float(np.max(np.abs(result - checks.run_onnx(tiny_export[1], x)))) < 1e-4


def _figures(ir16: dict, ir32: dict | None = None) -> tuple[OpenVinoFigures, ...]:
    base = dict(size_mb=10.0, load_seconds=0.20, latency_ms=100.0, output_psnr=140.0)
    rows = []
    for precision in ("f32", "bf16"):
        rows.append(OpenVinoFigures("onnx", precision, **base))
        rows.append(OpenVinoFigures("ir-fp32", precision, **{**base, "size_mb": 10.3, **(ir32 or {})}))
        rows.append(OpenVinoFigures("ir-fp16", precision, **{**base, **ir16}))
    return tuple(rows)


def test_decide_prefers_a_smaller_accurate_ir():
    decision = decide(_figures({"size_mb": 5.0, "output_psnr": 80.0}))
    assert decision.chosen == "ir-fp16"
    assert decision.reason == "write ir-fp16: 5.0 MB vs 10.0 MB"


def test_decide_rejects_an_ir_that_is_slower_or_inaccurate():
    slower = decide(_figures({"size_mb": 5.0, "latency_ms": 130.0}))
    assert slower.chosen is None
    assert "ir-fp16: f32 latency 130.0 ms vs 100.0 ms from ONNX" in slower.reason
    inaccurate = decide(_figures({"size_mb": 5.0, "output_psnr": 40.0}))
    assert inaccurate.chosen is None and "f32 output PSNR 40.0 dB < 45" in inaccurate.reason


def test_decide_takes_a_faster_loading_ir_and_otherwise_reads_the_onnx():
    faster = decide(_figures({"size_mb": 10.3}, ir32={"load_seconds": 0.10}))
    assert faster.chosen == "ir-fp32"
    assert "loads faster (f32 0.10 s vs 0.20 s, bf16 0.10 s vs 0.20 s)" in faster.reason
    neither = decide(_figures({"size_mb": 10.3}))
    assert neither.chosen is None
    assert neither.reason.startswith("read the ONNX directly (ir-fp16: neither smaller nor faster to load")
