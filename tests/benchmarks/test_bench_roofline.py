import pytest

from msau.benchmarks.roofline import (
    _best_rate,
    achieved_gflops,
    annotate,
    fraction_of_peak,
    measure_peaks,
    model_gflops,
    onnx_gflops,
    peak_key,
    reduced_precision_ceiling,
)
from msau.benchmarks.schema import ConfigResult


def test_achieved_and_fraction_arithmetic():
    assert achieved_gflops(9.72, 10.0) == pytest.approx(97.2)
    assert fraction_of_peak(97.2, 194.4) == pytest.approx(0.5)
    assert achieved_gflops(None, 10.0) is None and fraction_of_peak(50.0, None) is None
    assert fraction_of_peak(50.0, 0.0) is None


def test_best_rate_takes_the_fastest_call():
    times = iter([0.0, 0.0, 0.5, 1.0, 1.25, 2.0, 2.5, 3.0])  # start, then (t0, t1) pairs: 0.5, 0.25, 0.5 s
    calls = []
    rate = _best_rate(lambda: calls.append(1), flops=2e9, seconds=0.0, clock=lambda: next(times))
    assert rate == pytest.approx(8.0)  # 2 GFLOP in 0.25 s
    assert len(calls) == 4  # one warm-up, then three timed


def test_onnx_count_matches_the_torch_count(tiny_artifacts):
    from msau.model.checkpoint import read_checkpoint_metadata
    from msau.model.network import count_gflops

    config, _ = read_checkpoint_metadata(tiny_artifacts.with_suffix(".safetensors"))
    for height, width in ((32, 32), (64, 96)):
        assert onnx_gflops(tiny_artifacts, height, width) == pytest.approx(
            count_gflops(config, height, width), rel=1e-9
        )
    assert onnx_gflops(tiny_artifacts, 64, 64) == pytest.approx(4 * onnx_gflops(tiny_artifacts, 32, 32), rel=0.01)


def test_model_gflops_falls_back_to_the_checkpoint(tiny_artifacts, monkeypatch):
    value, source = model_gflops(tiny_artifacts, 32, 32)
    assert "ONNX graph of bench.onnx" in source
    import msau.benchmarks.roofline as roofline

    def no_onnx(*args, **kwargs):
        raise ImportError("no onnx")

    monkeypatch.setattr(roofline, "onnx_gflops", no_onnx)
    fallback, fallback_source = model_gflops(tiny_artifacts.with_suffix(".safetensors"), 32, 32)
    assert fallback == pytest.approx(value, rel=1e-9)
    assert "count_gflops on the config of bench.safetensors" == fallback_source


def test_annotate_reads_each_result_against_its_precisions_peak():
    def result(precision, *batches):
        return ConfigResult.from_json(
            {"backend": "b", "precision": precision, "status": "ok", "on_gpu": False, "batches": list(batches)}
        )

    results = [
        result("fp32", {"status": "ok", "size": 256, "batch": 1, "images_per_s": 5.0},
               {"status": "skipped", "size": 256, "batch": 8}),
        result("bf16", {"status": "ok", "size": 256, "batch": 1, "images_per_s": 10.0}),
    ]
    peaks = {"cpu/fp32": {"gflops": 100.0}, "cpu/bf16": {"gflops": 400.0}}
    results = annotate(results, {256: 10.0}, peaks)
    first, skipped = results[0].batches
    assert first.achieved_gflops_per_s == pytest.approx(50.0)
    assert first.fraction_of_peak == pytest.approx(0.5)
    assert first.peak_key == "cpu/fp32"
    assert "achieved_gflops_per_s" not in skipped.to_json()
    assert results[1].batches[0].fraction_of_peak == pytest.approx(0.25)
    unpeaked = annotate(results[1:], {}, {})[0].batches[0].to_json()
    assert (unpeaked["gflops_per_image"], unpeaked["fraction_of_peak"]) == (None, None)  # written as null
    assert peak_key(True, "fp16") == "gpu/fp16"


def test_cpu_peaks_cover_every_precision_the_backends_run():
    pytest.importorskip("torch")
    peaks = measure_peaks({("cpu", "fp32"), ("cpu", "bf16"), ("cpu", "int8")}, seconds=0.05)
    assert peaks["cpu/fp32"]["gflops"] > 1.0
    for precision in ("bf16", "int8"):
        peak = peaks[f"cpu/{precision}"]
        measured = f"torch {precision} matmul on the CPU, best of 512^2 and 1024^2"
        # A CPU with fast kernels for the precision (AVX512-BF16, VNNI) gives a peak; one without (AVX2 only), none.
        assert (peak["gflops"] is not None and peak["how"] == measured) or (
            peak["gflops"] is None and peak["how"].startswith(f"not a ceiling: {measured} ran at")
        ), peak


def test_a_reduced_precision_slower_than_float32_is_no_ceiling():
    assert reduced_precision_ceiling("int8", 300.0, 150.0) == (300.0, "torch int8 matmul on the CPU, best of 512^2 and 1024^2")
    assert reduced_precision_ceiling("int8", 2.5, 150.6) == (
        None,
        "not a ceiling: torch int8 matmul on the CPU, best of 512^2 and 1024^2 ran at 2.5 GFLOP/s, below float32's "
        "150.6 (no fast int8 kernel in torch for this CPU)",
    )
