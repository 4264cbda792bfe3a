"""``auto``: the fastest backend this machine can run for a model.

Order: a TensorRT engine on an NVIDIA GPU (the model itself, or ``<stem>[.<precision>].engine`` beside it, by
msau's naming rule, msau.runtime.artifacts), then ONNX Runtime
on CUDA (onnxruntime-gpu), then OpenVINO on the CPU (bf16 where the CPU has it), then ONNX Runtime on the CPU.
A ``.safetensors`` model has one runner, torch (on CUDA if torch sees a GPU). Each probe is a small function
so that the choice can be tested without the hardware.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from msau.runtime.backends.base import BackendError


@dataclass(frozen=True)
class Choice:
    """What auto picked: backend name, the model file it reads, precision, device."""

    backend: str
    model_path: Path
    precision: str
    device: str | None


def has_module(name: str) -> bool:
    """True if a module can be imported, without importing it (no heavy import to find out)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def tensorrt_available() -> bool:
    """TensorRT and cuda-python installed and a CUDA GPU visible."""
    if not (has_module("tensorrt") and (has_module("cuda.bindings") or has_module("cuda.cudart"))):
        return False
    from msau.runtime.backends.tensorrt import cuda_device_count

    return cuda_device_count() > 0


def onnxruntime_cuda_available() -> bool:
    """onnxruntime-gpu with the CUDA execution provider, and an NVIDIA GPU visible to it."""
    if not has_module("onnxruntime"):
        return False
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return False
    # onnxruntime-gpu lists CUDA even on machines without a GPU; the driver's device nodes tell the truth.
    return any(Path("/dev").glob("nvidia[0-9]*")) or Path("/proc/driver/nvidia").exists()


def openvino_available() -> bool:
    """OpenVINO installed and it sees a CPU device."""
    if not has_module("openvino"):
        return False
    import openvino

    return "CPU" in openvino.Core().available_devices


def openvino_bf16() -> bool:
    """True if OpenVINO reports native bf16 on this CPU (AVX512-BF16 or AMX)."""
    from msau.runtime.backends.openvino import bf16_supported

    return bf16_supported()


def torch_cuda_available() -> bool:
    """torch installed and it sees a CUDA GPU (torch imported only if it is installed)."""
    if not has_module("torch"):
        return False
    import torch

    return torch.cuda.is_available()


def engine_precision(engine: Path) -> str | None:
    """The precision an engine's sidecar records, if there is a readable sidecar that says."""
    try:
        from msau.runtime.engine_sidecar import read_sidecar

        return read_sidecar(engine).get("precision")
    except Exception:  # no sidecar, or an unreadable one: TensorRTBackend reports that itself when it loads
        return None


def choose(model_path: str | Path, precision: str | None = None, device: str | None = None) -> Choice:
    """The backend auto runs model_path with; precision None lets each backend take its fastest good one."""
    from msau.runtime.artifacts import ENGINE_SUFFIXES, find_engine

    path = Path(model_path)
    suffix = path.suffix.lower()
    cpu_only = device is not None and device.lower().startswith("cpu")
    if suffix == ".safetensors":
        gpu = not cpu_only and torch_cuda_available()
        return Choice("torch", path, precision or "fp32", device or ("cuda" if gpu else "cpu"))
    if suffix in ENGINE_SUFFIXES:
        return Choice("tensorrt", path, precision or engine_precision(path) or "fp32", device)
    if not cpu_only and tensorrt_available():
        engine = find_engine(path, precision)
        if engine is not None:
            built = engine_precision(engine)
            if precision is None or built is None or precision == built:
                return Choice("tensorrt", engine, precision or built or "fp32", device)
    if not cpu_only and onnxruntime_cuda_available() and precision in (None, "fp32", "fp16"):
        return Choice("onnxruntime", path, precision or "fp32", device or "cuda")
    if precision == "int8":  # the INT8 graph ran about twice as fast on OpenVINO as on ONNX Runtime (2026-12-01-int8.md)
        return Choice("openvino", path, "int8", "CPU") if openvino_available() else Choice("onnxruntime", path, "int8", "cpu")
    if openvino_available() and precision in (None, "fp32", "bf16"):
        if precision is None:
            precision = "bf16" if openvino_bf16() else "fp32"
        if precision == "fp32" or openvino_bf16():
            return Choice("openvino", path, precision, "CPU")
    if precision in (None, "fp32", "fp16"):
        return Choice("onnxruntime", path, precision or "fp32", "cpu")
    raise BackendError(f"no available backend runs {path.name} in {precision}; choose fp32 or another backend")
