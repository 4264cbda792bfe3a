from pathlib import Path

import pytest

from msau.benchmarks.configs import (
    Config,
    artifact_mb,
    classify_open_error,
    on_gpu,
    plan_configs,
)
from msau.runtime.backends.base import BackendError, MissingDependencyError


def touch(path: Path, size: int = 0) -> Path:
    path.write_bytes(b"x" * size)
    return path


def test_plan_finds_each_backend_file_by_the_naming_rule(tmp_path):
    model = touch(tmp_path / "m.onnx")
    touch(tmp_path / "m-fp16.onnx")  # not a name msau-export writes: never picked
    by_key = {c.key: c for c in plan_configs(model, precisions=["fp32", "fp16", "bf16"])}
    assert by_key["onnxruntime/fp16"].artifact == model  # converted in memory by the backend
    fp16 = touch(tmp_path / "m.fp16.onnx")
    touch(tmp_path / "m.safetensors")
    touch(tmp_path / "m.xml")  # an IR without its .bin is not an artifact
    by_key = {c.key: c for c in plan_configs(fp16, precisions=["fp32", "fp16", "bf16"])}
    assert by_key["onnxruntime/fp16"].artifact == fp16
    assert by_key["onnxruntime/fp32"].artifact == model  # a model named fp16 is not the fp32 artifact
    assert by_key["openvino/fp32"].artifact == model
    assert by_key["torch/bf16"].artifact == tmp_path / "m.safetensors"
    touch(tmp_path / "m.bin")
    touch(tmp_path / "m.fp16.engine")
    by_key = {c.key: c for c in plan_configs(model, precisions=["fp32", "fp16", "bf16"])}
    assert by_key["openvino/bf16"].artifact == tmp_path / "m.xml"
    assert by_key["tensorrt/fp16"].artifact == tmp_path / "m.fp16.engine"
    assert by_key["tensorrt/fp32"].status == "skipped" and "m[.<precision>].engine" in by_key["tensorrt/fp32"].reason


def test_artifact_size_counts_external_data(tmp_path):
    model = touch(tmp_path / "m.onnx", 1_500_000)
    assert artifact_mb(model) == 1.5
    touch(tmp_path / "m.onnx.data", 2_000_000)
    assert artifact_mb(model) == 3.5
    assert artifact_mb(tmp_path / "none.onnx") is None
    assert artifact_mb(None) is None


def test_default_plan_on_a_cpu(tmp_path):
    model = touch(tmp_path / "m.onnx")
    touch(tmp_path / "m.safetensors")
    configs = plan_configs(model)
    rows = [(c.backend, c.precision, c.status) for c in configs]
    assert rows == [
        ("tensorrt", "-", "skipped"),  # no engine: one row, not one per precision
        ("onnxruntime", "fp32", "ok"),
        ("onnxruntime", "fp16", "skipped"),
        ("onnxruntime", "int8", "skipped"),  # an INT8 graph is served from its own file only
        ("openvino", "fp32", "ok"),
        ("openvino", "bf16", "ok"),
        ("openvino", "int8", "skipped"),
        ("torch", "fp32", "ok"),
        ("torch", "fp16", "skipped"),
        ("torch", "bf16", "ok"),
    ]
    by_key = {c.key: c for c in configs}
    assert "no .engine/.plan/.trt file for the tensorrt backend" in by_key["tensorrt/-"].reason
    assert (
        "m.fp16.onnx" in by_key["onnxruntime/fp16"].reason and "--precisions fp16" in by_key["onnxruntime/fp16"].reason
    )
    assert "CUDA only" in by_key["torch/fp16"].reason
    assert by_key["torch/fp32"].artifact == tmp_path / "m.safetensors"
    assert all(c.device is None for c in configs)


def test_asking_for_a_precision_measures_it_and_gpu_hosts_default_to_cuda(tmp_path):
    model = touch(tmp_path / "m.onnx")
    configs = plan_configs(
        model, backends=["onnxruntime", "torch"], precisions=["fp16"], gpu=True, options={"threads": 2}
    )
    onnxruntime, torch = configs
    assert (onnxruntime.status, onnxruntime.device, onnxruntime.options) == ("ok", "cuda", {"threads": 2})
    assert torch.status == "skipped" and "no .safetensors file" in torch.reason
    assert on_gpu(onnxruntime) and not on_gpu(Config("openvino", "fp32", "CPU")) and on_gpu(Config("tensorrt", "fp16"))


def test_unknown_backend_is_a_usage_error(tmp_path):
    with pytest.raises(BackendError, match="unknown backend 'nope'"):
        plan_configs(touch(tmp_path / "m.onnx"), backends=["nope"])


def test_open_errors_are_classified():
    assert classify_open_error(MissingDependencyError("pip install 'msau[tensorrt]'")) == (
        "skipped",
        "pip install 'msau[tensorrt]'",
    )
    assert classify_open_error(BackendError("no bf16 here"))[0] == "skipped"
    assert classify_open_error(FileNotFoundError("m.engine: missing"))[0] == "skipped"
    assert classify_open_error(ValueError("bad graph")) == ("failed", "ValueError: bad graph")
