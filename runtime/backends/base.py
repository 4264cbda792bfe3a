"""The one small interface every inference backend implements, and the registry that picks one by name."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

PRECISIONS = ("fp32", "fp16", "bf16")


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
        self.model_path = Path(model_path)
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


def open_backend(name: str, model_path: str | Path, precision: str = "fp32", device: str | None = None, **options) -> Backend:
    """Open the backend registered under name on model_path."""
    return backend_class(name)(model_path, precision=precision, device=device, **options)
