"""PyTorch -> ONNX with the contract's names and dynamic batch and spatial axes."""

from __future__ import annotations

from pathlib import Path

import torch

from msau.model.network import MSAUNet
from msau.runtime.contract import INPUT_CHANNELS, INPUT_NAME, OUTPUT_NAME

DEFAULT_OPSET = 17


def export_onnx(model: MSAUNet, path: str | Path, opset: int = DEFAULT_OPSET, size: int = 256) -> Path:
    """Write model as ONNX (float32, input ``input`` (N, 4, H, W) -> ``ab`` (N, 2, H, W), N/H/W dynamic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().to(memory_format=torch.contiguous_format)
    example = torch.zeros(1, INPUT_CHANNELS, size, size)
    axes = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
        opset_version=opset,
        dynamo=False,
    )
    return path
