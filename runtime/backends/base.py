"""The one small interface every inference backend implements, and the registry that picks one by name."""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from msau.runtime.contract import CONTRACT_VERSION, INPUT_CHANNELS, INPUT_NAME, OUTPUT_CHANNELS, OUTPUT_NAME

PRECISIONS = ("fp32", "fp16", "bf16", "int8")


class BackendError(RuntimeError):
    """A backend cannot be opened or run; the message says what to do (install an extra, rebuild an engine)."""


class MissingDependencyError(BackendError, ImportError):
    """The backend's package is not installed; the message names the pip extra that brings it."""


def require(module: str, extra: str, backend: str):
    """Import a heavy optional module inside the backend that needs it, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"the {backend} backend needs the '{module}' package: pip install 'msau[{extra}]'"
        ) from error


def require_int8_model(model_path: Path, backend: str) -> None:
    """BackendError unless the file is an INT8 graph by msau's naming rule (``<stem>.int8.onnx``): INT8 is made
    once by msau-export --int8, calibrated and gated against FP32; no backend quantizes on the fly."""
    from msau.runtime.artifacts import ONNX_SUFFIX, artifact_filename, parse_artifact

    name = parse_artifact(model_path)
    if name.precision != "int8":
        expected = artifact_filename(name.stem, ONNX_SUFFIX, "int8")
        raise BackendError(
            f"{model_path}: the {backend} backend runs int8 from an INT8 model ({expected}, written by "
            "msau-export --int8 --calibration DIR), not from this file"
        )


class Backend(ABC):
    """Runs the network: contract input (N, 4, H, W) float32 -> ab (N, 2, H, W) float32.

    Open with ``Backend(model_path, precision=..., device=..., **options)``; use as a context manager or call
    ``close()``. ``model_path`` is whatever file the backend reads (ONNX, engine, safetensors checkpoint).
    """

    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    model_suffixes: ClassVar[tuple[str, ...]] = (".onnx",)

    def __init__(self, model_path: str | Path, precision: str = "fp32", device: str | None = None, **options) -> None:
        if precision not in self.precisions:
            raise BackendError(
                f"the {self.name} backend supports precision {', '.join(self.precisions)}, not {precision!r}"
            )
        if options:
            raise BackendError(
                f"the {self.name} backend has no option {', '.join(map(repr, sorted(options)))}; "
                f"it takes {', '.join(sorted(backend_options(type(self)))) or 'none'}"
            )
        self.model_path = Path(model_path)
        if precision == "int8":
            require_int8_model(self.model_path, self.name)
        self.precision = precision
        self.device = device
        self.options = options

    @abstractmethod
    def infer(self, x: np.ndarray) -> np.ndarray:
        """ab (N, 2, H, W) float32 for a contract input batch (N, 4, H, W) float32."""

    def close(self) -> None:
        """Release sessions, engines and buffers; the backend is unusable afterwards."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} ({self.precision}{', ' + self.device if self.device else ''})"


# A tensor as a model declares it: its names and its shape, None for a dynamic (or symbolic) dimension.
TensorSpec = tuple[set[str], Sequence[int | None]]


def _matches(spec: TensorSpec, name: str, channels: int) -> bool:
    names, shape = spec
    return name in names and len(shape) == 4 and shape[1] in (None, channels)


def _describe(spec: TensorSpec) -> str:
    names, shape = spec
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    return f"{'/'.join(sorted(names)) or '(unnamed)'} ({dims})"


def check_contract(model_path: str | Path, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> None:
    """Raise BackendError naming the model unless it takes exactly the contract's input and gives its output
    (names, rank 4, channel counts): checked once at load, so that a wrong model fails there, not per image."""
    expected = (
        f"expected input '{INPUT_NAME}' (N, {INPUT_CHANNELS}, H, W) and output '{OUTPUT_NAME}' (N, {OUTPUT_CHANNELS}, H, W), "
        f"msau contract v{CONTRACT_VERSION}"
    )
    if len(inputs) != 1 or not _matches(inputs[0], INPUT_NAME, INPUT_CHANNELS):
        raise BackendError(f"{model_path}: not an MSAU-Net model: inputs {', '.join(map(_describe, inputs)) or 'none'}; {expected}")
    if not any(_matches(output, OUTPUT_NAME, OUTPUT_CHANNELS) for output in outputs):
        raise BackendError(f"{model_path}: not an MSAU-Net model: outputs {', '.join(map(_describe, outputs)) or 'none'}; {expected}")


def load_error(model_path: str | Path, what: str, error: BaseException) -> BackendError:
    """One line for a model file that its library cannot load (corrupt, truncated or another format)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # The last line is the cause: OpenVINO's first ones say where in its sources the exception was thrown.
    return BackendError(f"{model_path}: cannot load as {what} ({lines[-1] if lines else type(error).__name__})")


# Names map to "module:Class" so that choosing a backend imports only that backend's heavy package.
BACKENDS: dict[str, str] = {
    "tensorrt": "msau.runtime.backends.tensorrt:TensorRTBackend",
    "onnxruntime": "msau.runtime.backends.onnxruntime:OnnxRuntimeBackend",
    "openvino": "msau.runtime.backends.openvino:OpenVINOBackend",
    "torch": "msau.runtime.backends.torch:TorchBackend",
}


def backend_class(name: str) -> type[Backend]:
    """The Backend class registered under name; BackendError listing the names if unknown."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)} (or auto)")
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def backend_options(backend: str | type[Backend]) -> set[str]:
    """The keyword options a backend takes beyond model_path, precision and device (e.g. threads)."""
    cls = backend_class(backend) if isinstance(backend, str) else backend
    parameters = inspect.signature(cls.__init__).parameters.values()
    common = {"self", "model_path", "precision", "device"}
    return {p.name for p in parameters if p.name not in common and p.kind is not inspect.Parameter.VAR_KEYWORD}


def open_backend(name: str, model_path: str | Path, precision: str = "fp32", device: str | None = None, **options) -> Backend:
    """Open the backend registered under name on model_path."""
    return backend_class(name)(model_path, precision=precision, device=device, **options)
