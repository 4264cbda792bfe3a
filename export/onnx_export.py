"""PyTorch -> ONNX with the contract's names, dynamic batch and spatial axes, simplification and metadata."""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch

import msau
from msau.model.network import MSAUNet
from msau.runtime.atomic import atomic_path
from msau.runtime.contract import INPUT_CHANNELS, INPUT_NAME, MODEL_CONFIG_KEY, OUTPUT_NAME, metadata

DEFAULT_OPSET = 17
MIN_OPSET = 17  # the lowest opset TensorRT 10's parser and our checks are verified with
DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}

CONFIG_KEY = MODEL_CONFIG_KEY
PRECISION_KEY = "msau_precision"
VERSION_KEY = "msau_version"


@dataclass(frozen=True)
class ExportResult:
    """What export_model did: where it wrote, and whether simplification was kept (node counts before/after)."""

    path: Path
    opset: int
    nodes_exported: int
    nodes_written: int
    simplified: bool


def save_onnx(model: onnx.ModelProto, path: str | Path) -> Path:
    """Write an ONNX model atomically (temp file in the same folder, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    return path


def set_metadata(model: onnx.ModelProto, values: dict[str, str]) -> None:
    """Set (replace) string entries of metadata_props in place."""
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=str(value))


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    """metadata_props as a dict."""
    return {p.key: p.value for p in model.metadata_props}


def artifact_metadata(model: MSAUNet, precision: str = "fp32") -> dict[str, str]:
    """Contract version and names, model config, precision and msau version: what every artifact records."""
    return {**metadata(), CONFIG_KEY: model.config.to_json(), PRECISION_KEY: precision, VERSION_KEY: msau.__version__}


def dynamic_axes_kept(model: onnx.ModelProto) -> bool:
    """True if the input and output have symbolic (not fixed) N, H and W dimensions."""
    for value in list(model.graph.input[:1]) + list(model.graph.output[:1]):
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4 or any(dims[axis].HasField("dim_value") for axis in DYNAMIC_AXES):
            return False
    return True


def simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnxslim's constant folding and dead-node removal; the input model is returned if that fails or
    does not help (no fewer nodes) or loses the dynamic axes."""
    import onnxslim

    try:
        slim = onnxslim.slim(model)
    except Exception:  # onnxslim has no error hierarchy of its own; the unsimplified model stays valid
        return model
    if slim is None or not dynamic_axes_kept(slim) or len(slim.graph.node) >= len(model.graph.node):
        return model
    return slim


def _torch_export(model: MSAUNet, path: Path, opset: int, size: int) -> None:
    example = torch.zeros(1, INPUT_CHANNELS, size, size)
    with warnings.catch_warnings():
        # The TorchScript exporter is the one that writes plain dynamic_axes; its deprecation notice is noise here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: DYNAMIC_AXES, OUTPUT_NAME: DYNAMIC_AXES},
            opset_version=opset,
            dynamo=False,
        )


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every unnamed node a unique name (block lists and error reports refer to nodes by name)."""
    seen: set[str] = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{index}"
        seen.add(node.name)


def export_model(
    model: MSAUNet, path: str | Path, opset: int = DEFAULT_OPSET, size: int = 256, simplify_graph: bool = True
) -> ExportResult:
    """Export model as ONNX (float32 ``input`` (N, 4, H, W) -> ``ab`` (N, 2, H, W), N/H/W dynamic), simplified
    where that helps, with artifact_metadata in metadata_props, written atomically."""
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is too old: msau exports opset {MIN_OPSET} or newer")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().to(memory_format=torch.contiguous_format)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp:
        raw_path = Path(tmp) / "raw.onnx"
        _torch_export(model, raw_path, opset, size)
        raw = onnx.load(str(raw_path))
    written = simplify(raw) if simplify_graph else raw
    name_nodes(written)
    set_metadata(written, artifact_metadata(model))
    save_onnx(written, path)
    return ExportResult(path, opset, len(raw.graph.node), len(written.graph.node), written is not raw)


def export_onnx(model: MSAUNet, path: str | Path, opset: int = DEFAULT_OPSET, size: int = 256) -> Path:
    """Write model as ONNX (float32, input ``input`` (N, 4, H, W) -> ``ab`` (N, 2, H, W), N/H/W dynamic)."""
    return export_model(model, path, opset, size).path
