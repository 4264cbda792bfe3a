"""ONNX -> TensorRT engine (a plain plan file that trtexec can load) + JSON sidecar, for TensorRT 10.x and 11.x.

The network is strongly typed (the only mode on TensorRT 11, opt-in on 10): the precision is the ONNX graph's
own, so an FP16 engine is built from the FP16 ONNX and no precision builder flag is set. One optimisation
profile covers the batch and spatial ranges; the workspace is capped; the timing cache persists across builds.
The engine is run on the verification set before it is written, by the runtime's own runner
(``TensorRTBackend.from_plan``): what is checked is what serves. The CUDA plumbing and the GPU lookup live
there too (msau.runtime.backends.tensorrt); this module only builds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from msau.runtime.atomic import write_bytes_atomic
from msau.runtime.backends.base import BackendError, require
from msau.runtime.backends.tensorrt import EXTRA, cuda_check, gpu_info, import_cudart
from msau.runtime.contract import INPUT_CHANNELS, INPUT_NAME, SIZE_MULTIPLE
from msau.runtime.engine_sidecar import (
    HARDWARE_COMPATIBILITY_LEVELS,
    engine_key,
    file_sha256,
    make_sidecar,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)

if TYPE_CHECKING:  # the types of annotations; tests/export/test_export_tensorrt_bindings.py checks their names
    import tensorrt as trt


class GpuUnavailableError(BackendError):
    """TensorRT is installed but no NVIDIA GPU (or no working driver) is visible."""


class EngineBuildError(RuntimeError):
    """TensorRT could not parse the ONNX graph or build an engine; the message lists every error."""


@dataclass(frozen=True)
class TensorRTTarget:
    """The TensorRT version and GPU an engine is built for."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "major.minor"


@dataclass(frozen=True)
class ShapeProfile:
    """One optimisation profile: batch (min, opt, max) and square side (min, opt, max) in pixels."""

    batch: tuple[int, int, int]
    size: tuple[int, int, int]

    def __post_init__(self) -> None:
        for name, values in (("batch", self.batch), ("size", self.size)):
            if len(values) != 3 or not values[0] <= values[1] <= values[2] or values[0] < 1:
                raise ValueError(f"--{name} must be MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX, got {values}")
        if any(s % SIZE_MULTIPLE for s in self.size):
            raise ValueError(f"--size values must be multiples of {SIZE_MULTIPLE}, got {self.size}")

    def shapes(self) -> dict[str, list[int]]:
        """{"min": [N, 4, H, W], "opt": ..., "max": ...} of the network input."""
        return {
            level: [self.batch[i], INPUT_CHANNELS, self.size[i], self.size[i]] for i, level in enumerate(("min", "opt", "max"))
        }

    def as_dict(self) -> dict:
        return {"input": INPUT_NAME, **self.shapes()}


@dataclass(frozen=True)
class BuildOptions:
    """Builder settings that change the engine (and so its key)."""

    workspace_mb: int = 4096
    hardware_compatibility_level: str = "none"
    builder_optimization_level: int | None = None  # TensorRT's default (3) when None
    strongly_typed: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if self.hardware_compatibility_level not in HARDWARE_COMPATIBILITY_LEVELS:
            raise ValueError(
                f"hardware compatibility level must be one of {', '.join(HARDWARE_COMPATIBILITY_LEVELS)}, "
                f"got {self.hardware_compatibility_level!r}"
            )
        if self.workspace_mb < 1:
            raise ValueError(f"--workspace must be a positive number of MB, got {self.workspace_mb}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BuildResult:
    engine_path: Path
    sidecar_path: Path
    sidecar: dict
    skipped: bool  # an engine with the same key was already there
    seconds: float


def probe_tensorrt() -> TensorRTTarget:
    """TensorRT's version and GPU 0's name and compute capability.

    MissingDependencyError (naming msau[tensorrt]) without tensorrt or cuda-python; GpuUnavailableError
    without an NVIDIA GPU and a working driver.
    """
    trt = require("tensorrt", EXTRA, "TensorRT")
    cudart = import_cudart()
    try:
        if cuda_check(cudart.cudaGetDeviceCount()) < 1:
            raise GpuUnavailableError("no CUDA device")
        gpu = gpu_info(cudart, 0)
    except Exception as error:  # without a driver, cuda-python raises as well as returning error codes
        raise GpuUnavailableError(
            f"building a TensorRT engine needs an NVIDIA GPU with a working driver, and none is visible ({error}); "
            "build on the machine that will run the engine"
        ) from error
    return TensorRTTarget(str(trt.__version__), gpu[0], gpu[1])


def _logger(trt):
    """A tensorrt.ILogger that keeps warnings and errors in .messages (library code does not print)."""
    kept = {trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR, trt.ILogger.Severity.WARNING}

    class CapturingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[str] = []

        def log(self, severity, msg) -> None:
            if severity in kept:
                self.messages.append(f"[{getattr(severity, 'name', severity)}] {msg}")

    return CapturingLogger()


def parser_errors(parser: trt.OnnxParser) -> list[str]:
    """Every error the OnnxParser recorded, one line each, naming the node (index, name, op type)."""
    lines = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        node = error.node()
        name = error.node_name() if hasattr(error, "node_name") else ""
        operator = error.node_operator() if hasattr(error, "node_operator") else ""
        where = f"node {node}" + (f" {name}" if name else "") + (f" ({operator})" if operator else "") if node >= 0 else "graph"
        lines.append(f"{where}: {error.desc()} [{error.code()}]")
    return lines


def _network_flags(trt) -> int:
    # TensorRT 10 opts in with STRONGLY_TYPED; 11 is always strongly typed and still accepts (ignores) the flag.
    # EXPLICIT_BATCH is deprecated on 10 and gone on 11: explicit batch is the only mode.
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def _load_timing_cache(trt, config: trt.IBuilderConfig, path: Path | None) -> trt.ITimingCache:
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    # A cache from another TensorRT version or GPU is refused; start afresh rather than fail the build.
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def build_plan(
    onnx_path: Path, profile: ShapeProfile, options: BuildOptions, timing_cache: Path | None = None
) -> bytes:
    """Parse the ONNX graph into a strongly typed network and build a serialized engine (plan bytes).

    The timing cache at timing_cache is read if present and written back (atomically) after the build.
    EngineBuildError listing every parser error by node, or the builder's error messages.
    """
    trt = require("tensorrt", EXTRA, "TensorRT")
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = parser_errors(parser) or logger.messages or ["(the parser gave no details)"]
        raise EngineBuildError(f"{onnx_path}: TensorRT {trt.__version__} cannot parse the graph:\n  " + "\n  ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
    if options.builder_optimization_level is not None:
        config.builder_optimization_level = options.builder_optimization_level
    if options.hardware_compatibility_level != "none":
        level = getattr(trt.HardwareCompatibilityLevel, options.hardware_compatibility_level.upper(), None)
        if level is None:
            raise EngineBuildError(
                f"TensorRT {trt.__version__} has no hardware compatibility level {options.hardware_compatibility_level!r}"
            )
        config.hardware_compatibility_level = level
    shapes = profile.shapes()
    trt_profile = builder.create_optimization_profile()
    trt_profile.set_shape(INPUT_NAME, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(trt_profile)
    cache = _load_timing_cache(trt, config, timing_cache)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        details = "\n  ".join(logger.messages[-20:]) or "(no messages)"
        raise EngineBuildError(f"{onnx_path}: TensorRT {trt.__version__} built no engine:\n  {details}")
    if timing_cache is not None:
        write_bytes_atomic(timing_cache, bytes(cache.serialize()))
    return bytes(plan)


def existing_engine(engine_path: Path, key: str) -> dict | None:
    """The sidecar of an engine at engine_path built with this key and intact on disk, else None."""
    if not engine_path.is_file() or not sidecar_path(engine_path).is_file():
        return None
    try:
        sidecar = read_sidecar(engine_path)
    except ValueError:
        return None
    if sidecar.get("key") != key or sidecar.get("engine_sha256") != file_sha256(engine_path):
        return None
    return sidecar


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    precision: str,
    profile: ShapeProfile,
    options: BuildOptions = BuildOptions(),
    timing_cache: str | Path | None = None,
    target: TensorRTTarget | None = None,
    force: bool = False,
    verify=None,
    extra: dict | None = None,
) -> BuildResult:
    """Build (or reuse) the engine of onnx_path at engine_path with its sidecar.

    An existing engine whose sidecar has the same key (ONNX sha256, TensorRT version, GPU, precision, profile,
    options) is kept unless force. verify(plan: bytes) may raise to refuse the engine before it is written.
    """
    started = time.perf_counter()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    target = target or probe_tensorrt()
    onnx_sha256 = file_sha256(onnx_path)
    fields = dict(
        onnx_sha256=onnx_sha256,
        tensorrt_version=target.tensorrt_version,
        gpu_name=target.gpu_name,
        compute_capability=target.compute_capability,
        precision=precision,
        profile=profile.as_dict(),
        build_options=options.as_dict(),
    )
    key = engine_key(**fields)
    if not force:
        sidecar = existing_engine(engine_path, key)
        if sidecar is not None:
            return BuildResult(engine_path, sidecar_path(engine_path), sidecar, True, time.perf_counter() - started)
    plan = build_plan(onnx_path, profile, options, Path(timing_cache) if timing_cache is not None else None)
    if verify is not None:
        verify(plan)
    write_bytes_atomic(engine_path, plan)
    build_seconds = time.perf_counter() - started
    sidecar = make_sidecar(
        engine_path, **fields, extra={"onnx_file": onnx_path.name, "build_seconds": round(build_seconds, 2), **(extra or {})}
    )
    return BuildResult(engine_path, write_sidecar(engine_path, sidecar), sidecar, False, build_seconds)
