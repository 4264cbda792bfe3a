"""FP32 ONNX -> FP16 ONNX for strongly typed TensorRT builds: float32 inputs and outputs, FP16 inside, and the
numerically sensitive nodes kept in FP32. Also: finding the nodes to blame when an FP16 graph diverges."""

from __future__ import annotations

import collections
import importlib.util
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from msau.export.checks import RUN_CHUNK, cpu_session
from msau.export.fp16_emulation import emulate_fp16_storage, tensor_types
from msau.runtime.contract import INPUT_NAME

# The attention gates reduce over whole channels or images (ReduceMean/ReduceMax: long sums, and maxima of
# large activations) and feed sigmoids whose saturated tails FP16 flattens; they are a few tiny tensors, so
# keeping them in FP32 costs nothing measurable.
DEFAULT_OP_BLOCK_LIST: tuple[str, ...] = ("ReduceMean", "ReduceMax", "Sigmoid")
FP16_MAX = 65504.0
TOOLS = ("auto", "onnxconverter-common", "modelopt")


@dataclass(frozen=True)
class Fp16Conversion:
    """How a graph was converted: tool, what was kept in FP32, and the node mix of the result."""

    tool: str
    op_block_list: tuple[str, ...]
    node_block_list: tuple[str, ...]
    fp16_nodes: int
    fp32_nodes: int
    clamped_values: int = 0  # weights outside FP16's range the converter clamped (it warns once per tensor)

    def summary(self) -> str:
        kept = ", ".join(self.op_block_list) or "no op types"
        return (
            f"{self.tool}: {self.fp16_nodes} nodes in FP16, {self.fp32_nodes} kept in FP32 "
            f"({kept}; nodes {', '.join(self.node_block_list) or 'none'})"
            + (f", {self.clamped_values} weight tensors clamped to FP16's range" if self.clamped_values else "")
        )


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that produce the graph outputs (the output head): kept in FP32 by default."""
    outputs = {o.name for o in model.graph.output}
    return [node.name for node in model.graph.node if outputs.intersection(node.output)]


def node_precisions(model: onnx.ModelProto) -> tuple[int, int]:
    """(nodes computing in FP16, nodes computing in FP32), Casts excluded, judged by each node's first input."""
    types = tensor_types(model)
    fp16 = fp32 = 0
    for node in model.graph.node:
        if node.op_type == "Cast" or not node.input:
            continue
        elem = types.get(node.input[0])
        fp16 += elem == onnx.TensorProto.FLOAT16
        fp32 += elem == onnx.TensorProto.FLOAT
    return fp16, fp32


def _convert_onnxconverter(model: onnx.ModelProto, ops: list[str], nodes: list[str]) -> onnx.ModelProto:
    from onnxconverter_common import float16

    # op_block_list replaces the library's default list (ML/ONNX-ML ops our graph never has), so pass ours only.
    return float16.convert_float_to_float16(
        model, keep_io_types=True, op_block_list=ops, node_block_list=nodes, disable_shape_infer=False
    )


def _convert_modelopt(model: onnx.ModelProto, ops: list[str], nodes: list[str]) -> onnx.ModelProto:
    import re

    from modelopt.onnx.autocast import convert_to_mixed_precision

    with tempfile.TemporaryDirectory(prefix="msau-autocast-") as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, str(path))
        return convert_to_mixed_precision(
            onnx_path=str(path),
            low_precision_type="fp16",
            keep_io_types=True,
            op_types_to_exclude=ops,
            nodes_to_exclude=[f"^{re.escape(name)}$" for name in nodes],
        )


def restore_float_outputs(model: onnx.ModelProto) -> int:
    """Make every FLOAT16 graph output FLOAT again, in place; returns how many were fixed.

    onnxconverter-common, asked to keep I/O types and to block the node producing an output, still ends the
    graph with a Cast to FLOAT16. Such a Cast is dropped when its input is already FLOAT (the blocked node
    computes in FP32), else it is turned into a Cast to FLOAT.
    """
    types = tensor_types(model)
    producers = {out: node for node in model.graph.node for out in node.output}
    fixed = 0
    for output in model.graph.output:
        if output.type.tensor_type.elem_type != onnx.TensorProto.FLOAT16:
            continue
        cast = producers.get(output.name)
        if cast is None or cast.op_type != "Cast":
            continue
        source = cast.input[0]
        if types.get(source) == onnx.TensorProto.FLOAT and source not in {o.name for o in model.graph.output}:
            for node in model.graph.node:
                node.input[:] = [output.name if name == source else name for name in node.input]
                node.output[:] = [output.name if name == source else name for name in node.output]
            model.graph.node.remove(cast)
        else:
            for attribute in cast.attribute:
                if attribute.name == "to":
                    attribute.i = onnx.TensorProto.FLOAT
        output.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
        fixed += 1
    return fixed


def resolve_tool(tool: str = "auto") -> str:
    """The converter to use: ModelOpt AutoCast when installed (for auto), else onnxconverter-common."""
    if tool not in TOOLS:
        raise ValueError(f"unknown FP16 tool {tool!r}; choose one of {', '.join(TOOLS)}")
    if tool == "auto":
        return "modelopt" if importlib.util.find_spec("modelopt") is not None else "onnxconverter-common"
    return tool


def convert_fp16(
    model: onnx.ModelProto,
    op_block_list: tuple[str, ...] | list[str] | None = DEFAULT_OP_BLOCK_LIST,
    node_block_list: tuple[str, ...] | list[str] | None = None,
    tool: str = "auto",
) -> tuple[onnx.ModelProto, Fp16Conversion]:
    """FP16 copy of an FP32 graph with float32 I/O; op types in op_block_list and the named nodes stay FP32.

    node_block_list=None keeps the output head (the nodes producing the graph outputs) in FP32: its values are
    the answer itself, and rounding them to FP16 would put a floor under the output error.
    """
    ops = list(op_block_list or ())
    nodes = head_nodes(model) if node_block_list is None else list(node_block_list)
    chosen = resolve_tool(tool)
    with warnings.catch_warnings(record=True) as caught:
        # onnxconverter-common warns for every weight it clamps into FP16's range; count them instead.
        warnings.simplefilter("always")
        if chosen == "modelopt":
            converted = _convert_modelopt(model, ops, nodes)
        else:
            converted = _convert_onnxconverter(model, ops, nodes)
    clamped = sum("truncated" in str(w.message) for w in caught)
    restore_float_outputs(converted)
    # The converters keep metadata_props; the precision entry must say what the graph now is.
    from msau.export.onnx_export import PRECISION_KEY, set_metadata

    set_metadata(converted, {PRECISION_KEY: "fp16"})
    fp16, fp32 = node_precisions(converted)
    return converted, Fp16Conversion(chosen, tuple(ops), tuple(nodes), fp16, fp32, clamped)


@dataclass(frozen=True)
class NodeDivergence:
    """How much error one FP16 node adds on top of the error already in its inputs."""

    name: str
    op_type: str
    added_error: float  # relative (to the FP32 tensor's max magnitude), output minus worst input
    max_magnitude: float  # max |value| of the FP32 tensor
    overflow: bool  # the FP32 value does not fit FP16

    def describe(self) -> str:
        if self.overflow:
            return f"{self.op_type} {self.name} (FP32 values up to {self.max_magnitude:.3g} overflow FP16)"
        added = f"{self.added_error:.2e} relative error" if np.isfinite(self.added_error) else "non-finite values"
        return f"{self.op_type} {self.name} (adds {added})"


def _with_all_outputs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """A copy of model whose graph outputs include every typed float intermediate tensor."""
    inferred = onnx.shape_inference.infer_shapes(model)
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    existing = {o.name for o in inferred.graph.output}
    extra = [v for v in inferred.graph.value_info if v.type.tensor_type.elem_type in floats and v.name not in existing]
    inferred.graph.output.extend(extra)
    return inferred, [o.name for o in inferred.graph.output]


def _all_tensors(model: onnx.ModelProto, x: np.ndarray, optimize: bool = True) -> dict[str, np.ndarray]:
    exposed, names = _with_all_outputs(model)
    session = cpu_session(exposed.SerializeToString(), optimize=optimize)
    results: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    for start in range(0, len(x), RUN_CHUNK):
        for name, value in zip(names, session.run(names, {INPUT_NAME: x[start : start + RUN_CHUNK]})):
            results[name].append(value.astype(np.float32))
    return {name: np.concatenate(values) for name, values in results.items()}


def divergent_nodes(fp32_model: onnx.ModelProto, fp16_model: onnx.ModelProto, x: np.ndarray, top: int = 5) -> list[NodeDivergence]:
    """The FP16 nodes to blame: those whose FP32 values overflow FP16 if any, else those adding the most error.

    Both graphs run on x (N, 4, H, W) with every intermediate tensor exposed (the FP16 graph with its FP16
    storage emulated, as the gate runs it), and tensors of the same name are compared.
    """
    reference = _all_tensors(fp32_model, x)
    converted = _all_tensors(emulate_fp16_storage(fp16_model), x, optimize=False)
    fp16_types = tensor_types(fp16_model)
    relative: dict[str, float] = {}
    for name, ref in reference.items():
        if name in converted and converted[name].shape == ref.shape:
            scale = max(float(np.max(np.abs(ref))), 1e-12)
            diff = np.abs(ref.astype(np.float64) - converted[name])
            relative[name] = float(np.max(np.nan_to_num(diff, nan=np.inf, posinf=np.inf))) / scale
    found = []
    for node in fp16_model.graph.node:
        out = node.output[0] if node.output else ""
        if node.op_type == "Cast" or out not in relative or fp16_types.get(out) != onnx.TensorProto.FLOAT16:
            continue
        worst_input = max((relative.get(i, 0.0) for i in node.input), default=0.0)
        # Error that was already infinite upstream is inherited, not added, by this node.
        added = relative[out] - worst_input if np.isfinite(worst_input) else 0.0
        magnitude = float(np.max(np.abs(reference[out])))
        found.append(NodeDivergence(node.name, node.op_type, added, magnitude, magnitude > FP16_MAX))
    # A node that overflows is the cause; the ones after it only carry its infinities along.
    overflowing = [d for d in found if d.overflow and d.added_error > 0]
    culprits = overflowing or [d for d in found if d.added_error > 0]
    culprits.sort(key=lambda d: (not d.overflow, -d.added_error))
    return culprits[:top]
