"""``auto``: the fastest backend this machine can run for a model.

Order: a TensorRT engine on an NVIDIA GPU (the model itself, or ``<stem>[.<precision>].engine`` beside it, by
msau's naming rule, msau.runtime.artifacts), then ONNX Runtime
on CUDA (onnxruntime-gpu), then the CPU, where cpu_plan decides by what the CPU can do (below), then ONNX
Runtime on the CPU. A ``.safetensors`` model has one runner, torch (on CUDA if torch sees a GPU). Each probe is
a small function so that the choice can be tested without the hardware.

On the CPU (the shipped model, 256x256, batch 1, each backend in its own process): OpenVINO beat ONNX Runtime in
fp32 on every CPU measured (AVX2-only AMD EPYC: 83-93 vs 96-98 ms; AVX-512 + AMX Intel Xeon: see
benchmarks/results/2026-12-01-cpu.md), and bf16 ran 1.7x or more faster than fp32 where the CPU computes it natively
(AVX512-BF16: 34 vs 58 ms; AMX-BF16), while without those instructions OpenVINO would emulate it. The quantized
``<stem>.int8.onnx`` (within the export gate's 0.15 dB of fp32 as served) ran faster than fp32 on OpenVINO at every
instruction set measured, with OpenVINO's kernels capped by ONEDNN_MAX_CPU_ISA on one Xeon
(benchmarks/results/2026-12-01-auto.md): AVX2 61-66 vs 83-98 ms (VPMADDUBSW, three instructions per int8 dot
product), AVX-512 without VNNI 49 vs 65 ms, AVX512-VNNI 36 vs 59 ms; but slower than bf16 where bf16 is native (AMX:
24 vs 13 ms). The 1,073-photo model's INT8 keeps more of the decoder in float and still ran faster under the AVX2
cap (75-88 vs 101-109 ms, MODEL.md). On AVX512-BF16 with VNNI and without AMX (a 2-core AMD EPYC, 2026-12-07,
benchmarks/results/2026-12-07-epyc.md), four interleaved rounds, each configuration in its own process: bf16
34.4-41.1 ms, int8 37.8-42.7, fp32 62-72, so bf16 stays first there too. So: OpenVINO bf16 with AVX512-BF16 or AMX;
otherwise OpenVINO int8 where the INT8 model ships and the CPU has AVX2 (oneDNN's int8 kernels start there);
otherwise OpenVINO fp32; each within ONEDNN_MAX_CPU_ISA where it is set (msau.runtime.backends.onednn_isa).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from msau.runtime.backends.base import BackendError
from msau.runtime.backends.onednn_isa import BF16_ISA, INT8_ISA, cap_allows, onednn_isa_cap


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


# CPU features as /proc/cpuinfo names them.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # native bf16 dot products
INT8_FLAGS = ("avx2",)  # oneDNN's int8 kernels start at AVX2 (three instructions per dot product); VNNI and AMX only add speed


@dataclass(frozen=True)
class CpuCapabilities:
    """What the CPU can do: its /proc/cpuinfo flags, OpenVINO's OPTIMIZATION_CAPABILITIES for it (None
    without OpenVINO), e.g. {"FP32", "BF16", "INT8", ...}, and the oneDNN instruction-set cap, if one is set."""

    flags: frozenset[str]
    openvino: frozenset[str] | None
    isa_cap: str | None = None

    @property
    def bf16(self) -> bool:
        """Native bf16 within the cap: OpenVINO says so (it knows what it will run), or, where it reports nothing,
        the flags."""
        if not cap_allows(self.isa_cap, BF16_ISA):
            return False
        if self.openvino:
            return "BF16" in self.openvino
        return any(flag in self.flags for flag in BF16_FLAGS)

    @property
    def fast_int8(self) -> bool:
        """int8 kernels that beat fp32 (AVX2 and up, VNNI or AMX) within the cap, unless OpenVINO reports no INT8."""
        return (
            cap_allows(self.isa_cap, INT8_ISA)
            and any(flag in self.flags for flag in INT8_FLAGS)
            and (not self.openvino or "INT8" in self.openvino)
        )

    def describe_cap(self) -> str:
        """The plan's note on the cap: ", within ONEDNN_MAX_CPU_ISA=<cap>" where one is set, else empty."""
        return f", within ONEDNN_MAX_CPU_ISA={self.isa_cap}" if self.isa_cap else ""


@dataclass(frozen=True)
class CpuPlan:
    """The backend and precision auto runs on a CPU, and why."""

    backend: str
    precision: str
    reason: str


def cpuinfo_processors(path: Path = Path("/proc/cpuinfo")) -> list[dict[str, str]]:
    """One dict per logical processor of /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    processors, current = [], {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                processors.append(current)
            current = {}
            continue
        key, _, value = line.partition(":")
        current[key.strip()] = value.strip()
    if current:
        processors.append(current)
    return processors


def cpu_capabilities() -> CpuCapabilities:
    """This machine's CPU flags and OpenVINO's view of its CPU."""
    processors = cpuinfo_processors()
    flags = frozenset(processors[0].get("flags", "").split()) if processors else frozenset()
    cap = onednn_isa_cap()
    if not openvino_available():
        return CpuCapabilities(flags, None, cap)
    import openvino

    try:
        reported = frozenset(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except RuntimeError:  # a plugin that reports nothing: the flags decide
        reported = frozenset()
    return CpuCapabilities(flags, reported, cap)


def cpu_plan(capabilities: CpuCapabilities, int8_model: bool = False) -> CpuPlan:
    """What auto runs on a CPU with these capabilities (the rule in this module's docstring); int8_model: a
    quantized ``<stem>.int8.onnx`` ships beside the model."""
    if capabilities.openvino is None:
        return CpuPlan("onnxruntime", "fp32", "OpenVINO is not installed")
    cap = capabilities.describe_cap()
    if capabilities.bf16:
        return CpuPlan("openvino", "bf16", f"native bf16 on this CPU (AVX512-BF16 or AMX){cap}")
    if int8_model and capabilities.fast_int8:
        return CpuPlan(
            "openvino", "int8", f"no native bf16 on this CPU{cap}, and an INT8 model ships (faster than fp32 from AVX2 up)"
        )
    return CpuPlan(
        "openvino", "fp32", f"no native bf16 on this CPU{cap} and no INT8 model; OpenVINO fp32 beat ONNX Runtime fp32"
    )


def int8_model_beside(path: Path) -> bool:
    """True if a quantized ``<stem>.int8.onnx`` lies beside the model (msau's naming rule)."""
    from msau.runtime.artifacts import ONNX_SUFFIX, artifact_path, model_stem

    return artifact_path(path.parent, model_stem(path), ONNX_SUFFIX, "int8").is_file()


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
    if precision is None:
        plan = cpu_plan(cpu_capabilities(), int8_model_beside(path))
        return Choice(plan.backend, path, plan.precision, "CPU" if plan.backend == "openvino" else "cpu")
    if openvino_available() and precision in ("fp32", "bf16"):
        if precision == "fp32" or openvino_bf16():
            return Choice("openvino", path, precision, "CPU")
    if precision in (None, "fp32", "fp16"):
        return Choice("onnxruntime", path, precision or "fp32", "cpu")
    raise BackendError(f"no available backend runs {path.name} in {precision}; choose fp32 or another backend")
