"""The model files shipped inside the package, so that msau works right after install with no download."""

from __future__ import annotations

from pathlib import Path

import msau

MODELS_DIR = Path(msau.__file__).resolve().parent / "models"
DEFAULT_MODEL_NAME = "msau-tiny"


def shipped_model(suffix: str = ".onnx", name: str = DEFAULT_MODEL_NAME) -> Path:
    """Path of a shipped model file (.onnx, .safetensors, ...); FileNotFoundError saying what is missing."""
    path = MODELS_DIR / f"{name}{suffix}"
    if not path.is_file():
        available = sorted(p.name for p in MODELS_DIR.glob("*")) if MODELS_DIR.is_dir() else []
        raise FileNotFoundError(
            f"shipped model file {path} is missing (found: {', '.join(available) or 'nothing'}); "
            "reinstall msau or pass a model path"
        )
    return path
