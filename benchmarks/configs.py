"""What gets benchmarked: backend x precision x device configurations, the file each one loads, and how a
configuration that cannot run is reported (skipped: not available here; failed: it broke) instead of crashing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from msau.runtime.artifacts import (
    ONNX_SUFFIX,
    WRITTEN_SUFFIXES,
    artifact_filename,
    artifact_path,
    model_stem,
    naming_pattern,
    resolve_artifact,
)
from msau.runtime.backends.base import (
    BACKENDS,
    Backend,
    BackendError,
    MissingDependencyError,
    backend_class,
    open_backend,
)

OK, SKIPPED, FAILED = "ok", "skipped", "failed"
# Backends that run on an NVIDIA GPU when the host has one (openvino stays on the CPU).
GPU_DEVICES = {"torch": "cuda", "onnxruntime": "cuda"}


@dataclass
class Config:
    """One backend/precision/device to measure; status and reason say why it did not run, if it did not."""

    backend: str
    precision: str
    device: str | None = None
    artifact: Path | None = None
    status: str = OK
    reason: str = ""
    options: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.precision}"

    def describe(self) -> dict:
        """The JSON fields that identify this configuration."""
        return {
            "backend": self.backend,
            "precision": self.precision,
            "device": self.device or "default",
            "artifact": str(self.artifact) if self.artifact else None,
            "artifact_mb": artifact_mb(self.artifact),
        }

    def skip(self, reason: str) -> "Config":
        self.status, self.reason = SKIPPED, reason
        return self


def artifact_mb(path: Path | None) -> float | None:
    """Size in MB (10^6 bytes) of a model file and its ONNX external-data file, if any."""
    if path is None or not path.is_file():
        return None
    size = path.stat().st_size
    external = path.with_name(path.name + ".data")
    if external.is_file():
        size += external.stat().st_size
    return round(size / 1e6, 2)


def default_device(backend: str, gpu: bool) -> str | None:
    """The device a backend is measured on by default: the GPU where there is one and it can use it."""
    return GPU_DEVICES.get(backend) if gpu else None


def on_gpu(config: Config) -> bool:
    """True if this configuration runs on an NVIDIA GPU (so GPU peaks and device timings apply)."""
    device = (config.device or "").lower()
    return config.backend == "tensorrt" or device.startswith(("cuda", "gpu", "tensorrt"))


def _default_skip(backend: str, precision: str, device: str | None, model: Path) -> str | None:
    """Why a configuration is left out of a default sweep (None: measure it). Asking for the precision
    with --precisions measures it anyway."""
    gpu = (device or "cpu").lower().startswith(("cuda", "gpu", "tensorrt"))
    if (
        backend == "onnxruntime"
        and precision == "fp16"
        and not gpu
        and not artifact_path(model.parent, model_stem(model), ONNX_SUFFIX, "fp16").is_file()
    ):
        return (
            f"no FP16 ONNX file beside {model.name} ({artifact_filename(model_stem(model), ONNX_SUFFIX, 'fp16')}, "
            "written by msau-export --fp16); "
            "ONNX Runtime on the CPU has few fp16 kernels, ask with --precisions fp16 to measure it anyway"
        )
    if backend == "torch" and precision == "fp16" and not gpu:
        return (
            "torch fp16 is measured on CUDA only (on the CPU use bf16); ask with --precisions fp16 to measure it anyway"
        )
    return None


def plan_configs(
    model: Path,
    backends: Sequence[str] | None = None,
    precisions: Sequence[str] | None = None,
    device: str | None = None,
    gpu: bool = False,
    options: dict | None = None,
) -> list[Config]:
    """Every backend x precision to measure, in registry order, each with the file it loads.

    backends/precisions None: all registered backends and every precision each declares (minus a few that
    make no sense on this device, reported as skipped). device None: default_device for each backend.
    A backend whose module cannot be imported, or with no file to load, is a skipped configuration.
    """
    configs = []
    for name in backends or list(BACKENDS):
        try:
            cls = backend_class(name)
        except BackendError:
            raise  # an unknown name is a usage error, not a status
        except ImportError as error:
            configs.append(
                Config(name, (precisions or ["fp32"])[0]).skip(f"backend module cannot be imported: {error}")
            )
            continue
        wanted = [p for p in cls.precisions if precisions is None or p in precisions]
        config_device = device if device is not None else default_device(name, gpu)
        for precision in wanted:
            config = Config(name, precision, config_device, options=dict(options or {}))
            config.artifact = resolve_artifact(model, cls.model_suffixes, precision)
            if config.artifact is None:
                kinds = "/".join(cls.model_suffixes)
                looked = " or ".join(naming_pattern(model_stem(model), suffix) for suffix in cls.model_suffixes if suffix in WRITTEN_SUFFIXES)
                config.skip(
                    f"no {kinds} file for the {name} backend beside {model} (it looks for {looked}, as msau-export "
                    "names them)"
                )
            elif precisions is None and (why := _default_skip(name, precision, config_device, model)):
                config.skip(why)
            configs.append(config)
    return _collapse_unavailable(configs)


def _collapse_unavailable(configs: list[Config]) -> list[Config]:
    """One row, precision '-', for a backend whose every precision is skipped for the same reason (no file,
    say): three identical 'no TensorRT engine' rows say nothing more than one."""
    collapsed: list[Config] = []
    for config in configs:
        same = [c for c in configs if c.backend == config.backend]
        if len(same) > 1 and all(c.status == SKIPPED and c.reason == same[0].reason for c in same):
            if config is same[0]:
                collapsed.append(Config(config.backend, "-", config.device, None, SKIPPED, config.reason))
            continue
        collapsed.append(config)
    return collapsed


def classify_open_error(error: BaseException) -> tuple[str, str]:
    """(status, reason) of an error raised while opening a backend: a missing package, device or file means
    'not available here' (skipped); anything else is a failure."""
    if isinstance(error, (MissingDependencyError, BackendError, FileNotFoundError)):
        return SKIPPED, str(error)
    return FAILED, f"{type(error).__name__}: {error}"


def run_error(error: BaseException) -> str:
    """The reason recorded for an error raised while running an opened backend (always a failure)."""
    return f"{type(error).__name__}: {error}"


def open_config(config: Config) -> Backend:
    """Open the backend of a configuration on its artifact."""
    return open_backend(
        config.backend, config.artifact, precision=config.precision, device=config.device, **config.options
    )


def check_output(ab, batch: int, height: int, width: int) -> None:
    """Raise ValueError unless a backend's output has the contract shape (N, 2, H, W)."""
    from msau.runtime.contract import OUTPUT_CHANNELS

    expected = (batch, OUTPUT_CHANNELS, height, width)
    shape = tuple(getattr(ab, "shape", ()))
    if shape != expected:
        raise ValueError(f"backend returned an output of shape {shape}, expected {expected}")
