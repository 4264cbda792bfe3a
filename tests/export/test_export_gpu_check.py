"""make gpu-check's script where there is no GPU (every step skipped with its reason, exit 0) and on a machine
that claims one but lacks TensorRT, onnxruntime-gpu and CUDA torch (each step says which is missing)."""

from __future__ import annotations

import json

import pytest

from msau.export import gpu_check


def test_without_a_gpu_every_step_is_skipped(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(gpu_check, "nvidia_gpu", lambda: None)
    out = tmp_path / "gpu-check.json"
    assert gpu_check.main(["--out", str(out)]) == 0
    steps = json.loads(out.read_text())["steps"]
    assert list(steps) == ["tests", "engine", "tensorrt/fp16", "onnxruntime-cuda/fp32", "torch-cuda/fp32",
                           "torch-cuda/fp16", "trtexec"]
    assert {s["status"] for s in steps.values()} == {"skipped"}
    assert capsys.readouterr().out.count("skipped: no NVIDIA GPU (nvidia-smi lists none)") == 7


def test_with_a_gpu_but_no_gpu_packages_each_step_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_check, "nvidia_gpu", lambda: "GPU 0: NVIDIA H200 (UUID: GPU-0)")
    monkeypatch.setattr(gpu_check, "run_marked_tests", lambda root: {"summary": "2 skipped in 0.1s"})
    monkeypatch.setattr(gpu_check.shutil, "which", lambda name: None)
    monkeypatch.setattr(gpu_check, "RUNS", 1)
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", None)
    out = tmp_path / "gpu-check.json"
    assert gpu_check.main(["--out", str(out)]) == 0
    results = json.loads(out.read_text())
    steps = {name: (s["status"], s.get("reason", "")) for name, s in results["steps"].items()}
    assert steps["tests"] == ("ok", "")
    assert steps["engine"] == ("skipped", "TensorRT is not installed: pip install 'msau[tensorrt]'")
    assert steps["tensorrt/fp16"][0] == "skipped" and "msau[tensorrt]" in steps["tensorrt/fp16"][1]
    assert steps["onnxruntime-cuda/fp32"][0] == "skipped" and "CUDAExecutionProvider" in steps["onnxruntime-cuda/fp32"][1]
    assert steps["torch-cuda/fp32"][0] == "skipped" and "sees no CUDA GPU" in steps["torch-cuda/fp32"][1]
    assert steps["trtexec"][0] == "skipped" and "trtexec is not on PATH" in steps["trtexec"][1]
    assert results["reference"]["runner"] == "onnxruntime cpu fp32"


def test_a_failing_step_is_one_line_and_the_budget_is_kept(capsys):
    check = gpu_check.Check(budget_s=100)

    def broken() -> dict:
        raise RuntimeError("engine vs FP32 ONNX: output PSNR 12.0 dB (min 45)\nmore detail")

    assert check.run("engine", broken) is None
    assert check.results["steps"]["engine"] == {"status": "failed", "reason": "RuntimeError: engine vs FP32 ONNX: output PSNR 12.0 dB (min 45)"}
    assert check.run("trtexec", lambda: {"x": 1}, needs_s=1000) is None
    assert check.results["steps"]["trtexec"]["reason"].startswith("time budget:")
    assert check.run("tests", lambda: {"summary": "1 passed"})["summary"] == "1 passed"
    assert "gpu-check: engine: failed: RuntimeError" in capsys.readouterr().out


@pytest.mark.parametrize("line, gpu", [("GPU 0: NVIDIA H200 (UUID: GPU-1)\n", "GPU 0: NVIDIA H200 (UUID: GPU-1)"), ("", None)])
def test_nvidia_gpu_reads_nvidia_smi(monkeypatch, line, gpu):
    import subprocess

    monkeypatch.setattr(gpu_check.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(gpu_check.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0 if line else 9, line, ""))
    assert gpu_check.nvidia_gpu() == gpu
