"""msau.model: MSAU-Net (config presets, network), checkpoints, data pipeline and training (msau-train).

The public names are loaded on first use, so ``import msau.model`` itself does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ModelConfig": "msau.model.config",
    "PRESETS": "msau.model.config",
    "get_config": "msau.model.config",
    "MSAUNet": "msau.model.network",
    "create_model": "msau.model.network",
    "count_parameters": "msau.model.network",
    "count_gflops": "msau.model.network",
    "save_checkpoint": "msau.model.checkpoint",
    "load_checkpoint": "msau.model.checkpoint",
    "read_checkpoint_metadata": "msau.model.checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'msau.model' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
