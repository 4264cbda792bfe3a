"""TensorRT engines: the environment errors (everywhere) and real builds (where TensorRT and a GPU exist)."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from msau.export.cli import main
from msau.runtime.artifacts import ENGINE_SUFFIX, artifact_path


def test_engine_without_tensorrt_exits_2_and_writes_nothing(monkeypatch, capsys, tiny_checkpoint, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` fail, installed or not
    out = tmp_path / "out"
    assert main(["--weights", str(tiny_checkpoint), "--out", str(out), "--engine", "--fp16"]) == 2
    err = capsys.readouterr().err
    assert "msau-export: --engine: the TensorRT backend needs the 'tensorrt' package: pip install 'msau[tensorrt]'" in err
    assert not out.exists()


def test_engine_without_gpu_exits_2_and_writes_nothing(monkeypatch, capsys, tiny_checkpoint, tmp_path):
    from msau.export import tensorrt_build

    class NoDriver:
        @staticmethod
        def cudaGetDeviceCount():
            raise RuntimeError("cuInit failed: no CUDA-capable device is detected")

    fake_trt = types.ModuleType("tensorrt")
    fake_trt.__version__ = "10.13.0.35"
    monkeypatch.setitem(sys.modules, "tensorrt", fake_trt)
    monkeypatch.setattr(tensorrt_build, "import_cudart", lambda: NoDriver)
    out = tmp_path / "out"
    assert main(["--weights", str(tiny_checkpoint), "--out", str(out), "--engine"]) == 2
    err = capsys.readouterr().err
    assert "needs an NVIDIA GPU with a working driver, and none is visible" in err
    assert "no CUDA-capable device" in err
    assert not out.exists()


@pytest.mark.tensorrt
def test_engine_builds_runs_and_is_not_rebuilt(tiny_export, tiny_fp16, verification, tmp_path):
    from msau.export import checks
    from msau.export.tensorrt_build import BuildOptions, ShapeProfile, build_engine, probe_tensorrt
    from msau.runtime.backends.tensorrt import TensorRTBackend
    from msau.runtime.engine_sidecar import check_engine_compatible, read_sidecar

    target = probe_tensorrt()
    profile = ShapeProfile((1, 2, 4), (32, 64, 128))
    options = BuildOptions(workspace_mb=512)
    cache = tmp_path / "timing.cache"
    reference = checks.run_onnx(tiny_export[1], verification.inputs)
    for precision, source in (("fp32", tiny_export[1]), ("fp16", tiny_fp16[2])):
        engine = artifact_path(tmp_path, "tiny", ENGINE_SUFFIX, precision)
        result = build_engine(source, engine, precision, profile, options, timing_cache=cache, target=target)
        assert not result.skipped and engine.is_file() and cache.is_file()
        sidecar = read_sidecar(engine)
        assert sidecar["precision"] == precision and sidecar["profile"]["max"] == [4, 4, 128, 128]
        check_engine_compatible(sidecar, target.tensorrt_version, target.gpu_name, target.compute_capability)
        with TensorRTBackend(engine, precision) as served, TensorRTBackend.from_plan(engine.read_bytes(), precision) as fresh:
            ab = served.infer(verification.inputs)  # 3 inputs: above the profile's min batch 1, below its max 4
            assert checks.output_psnr(reference, ab) >= 45.0
            np.testing.assert_array_equal(fresh.infer(verification.inputs[:1]), ab[:1])
        again = build_engine(source, engine, precision, profile, options, timing_cache=cache, target=target)
        assert again.skipped and json.loads(again.sidecar_path.read_text())["key"] == sidecar["key"]


@pytest.mark.tensorrt
def test_parser_errors_name_the_node(tmp_path):
    import onnx

    from msau.export.tensorrt_build import BuildOptions, EngineBuildError, ShapeProfile, build_plan

    helper, tp = onnx.helper, onnx.TensorProto
    x = helper.make_tensor_value_info("input", tp.FLOAT, ["n", 4, "h", "w"])
    y = helper.make_tensor_value_info("ab", tp.FLOAT, None)
    node = helper.make_node("Fancy", ["input"], ["ab"], name="mystery", domain="com.example")
    model = helper.make_model(
        helper.make_graph([node], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(EngineBuildError) as error:
        build_plan(path, ShapeProfile((1, 1, 1), (32, 32, 32)), BuildOptions(workspace_mb=256))
    assert "cannot parse the graph" in str(error.value)
    assert "node 0" in str(error.value) and "mystery" in str(error.value)
