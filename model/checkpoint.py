"""Checkpoints: safetensors weights with the model config (and training metadata) in the same file. No pickle."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from msau.model.config import ModelConfig
from msau.model.network import MSAUNet
from msau.runtime.atomic import atomic_path
from msau.runtime.contract import MODEL_CONFIG_KEY

CONFIG_KEY = MODEL_CONFIG_KEY
INFO_KEY = "msau_training"
OPTIMIZER_PREFIX = "optimizer/"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"{OPTIMIZER_PREFIX}{index}/{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors


def save_checkpoint(
    path: str | Path,
    model: MSAUNet,
    info: dict | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Write weights + config (+ JSON-able training info, + optimizer moments for resuming), atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if optimizer is not None:
        tensors.update(_optimizer_tensors(optimizer))
    metadata = {CONFIG_KEY: model.config.to_json(), INFO_KEY: json.dumps(info or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_checkpoint_metadata(path: str | Path) -> tuple[ModelConfig, dict]:
    """(config, training info) of a checkpoint, without reading its weights."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checkpoint") from None
    except Exception as error:  # safetensors raises its own error types for a corrupt header
        raise ValueError(f"{path}: not a safetensors checkpoint ({error})") from error
    if CONFIG_KEY not in metadata:
        raise ValueError(f"{path}: checkpoint has no {CONFIG_KEY!r} metadata; was it written by msau?")
    return ModelConfig.from_dict(json.loads(metadata[CONFIG_KEY])), json.loads(metadata.get(INFO_KEY, "{}"))


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[MSAUNet, dict]:
    """(model in eval mode, training info) from a checkpoint written by save_checkpoint."""
    config, info = read_checkpoint_metadata(path)
    model = MSAUNet(config)
    from safetensors.torch import load_file

    tensors = load_file(str(path), device=map_location)
    weights = {k: v for k, v in tensors.items() if not k.startswith(OPTIMIZER_PREFIX)}
    model.load_state_dict(weights)
    return model.eval(), info


def load_optimizer_state(path: str | Path, optimizer: torch.optim.Optimizer) -> None:
    """Restore the optimizer moments saved beside the weights (the param groups come from the live optimizer)."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(OPTIMIZER_PREFIX):
            index, name = key[len(OPTIMIZER_PREFIX) :].split("/", 1)
            state.setdefault(int(index), {})[name] = value
    current = optimizer.state_dict()
    current["state"] = state
    optimizer.load_state_dict(current)
