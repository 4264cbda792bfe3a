from pathlib import Path

import pytest

from msau.benchmarks.configs import (
    Config,
    artifact_candidates,
    artifact_mb,
    base_stem,
    classify_open_error,
    on_gpu,
    plan_configs,
    resolve_artifact,
)
from msau.runtime.backends.base import BackendError, MissingDependencyError


def touch(path: Path, size: int = 0) -> Path:
    path.write_bytes(b"x" * size)
    return path


def test_base_stem_drops_precision_markers():
    assert base_stem(Path("m/msau-tiny-fp16.onnx")) == "msau-tiny"
    assert base_stem(Path("m/msau-tiny_bf16.engine")) == "msau-tiny"
    assert base_stem(Path("m/msau-tiny.fp16.onnx")) == "msau-tiny"
    assert base_stem(Path("m/msau-tiny.onnx")) == "msau-tiny"


def test_artifacts_prefer_the_precision_named_sibling(tmp_path):
    fp32 = touch(tmp_path / "m.onnx")
    assert resolve_artifact(fp32, (".onnx",), "fp32") == fp32
    assert resolve_artifact(fp32, (".onnx",), "fp16") == fp32  # the backend converts or finds it itself
    fp16 = touch(tmp_path / "m-fp16.onnx")
    assert resolve_artifact(fp32, (".onnx",), "fp16") == fp16
    assert resolve_artifact(fp16, (".onnx",), "fp32") == fp32  # a model named fp16 is not the fp32 artifact
    assert resolve_artifact(fp32, (".safetensors",), "bf16") is None
    checkpoint = touch(tmp_path / "m.safetensors")
    assert resolve_artifact(fp16, (".safetensors",), "bf16") == checkpoint
    assert artifact_candidates(fp32, (".engine",), "fp16")[:3] == [
        tmp_path / "m-fp16.engine",
        tmp_path / "m_fp16.engine",
        tmp_path / "m.fp16.engine",
    ]


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
        ("openvino", "fp32", "ok"),
        ("openvino", "bf16", "ok"),
        ("torch", "fp32", "ok"),
        ("torch", "fp16", "skipped"),
        ("torch", "bf16", "ok"),
    ]
    by_key = {c.key: c for c in configs}
    assert "no .engine/.plan/.trt file for the tensorrt backend" in by_key["tensorrt/-"].reason
    assert (
        "m-fp16.onnx" in by_key["onnxruntime/fp16"].reason and "--precisions fp16" in by_key["onnxruntime/fp16"].reason
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
