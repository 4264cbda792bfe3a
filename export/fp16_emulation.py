"""Run an FP16 graph on a CPU the way an FP16 GPU engine stores its tensors.

ONNX Runtime's CPU provider has no FP16 kernels for most ops on x86: it computes runs of FP16 nodes as FP32
"islands" with casts only at their borders, so intermediate tensors are never rounded to FP16 and values
beyond FP16's range (65504) never overflow. Judged that way, an FP16 graph that TensorRT would turn into inf
passes. emulate_fp16_storage rewrites the graph so that every tensor the FP16 graph holds in FP16 is rounded
to FP16 (Cast to FLOAT16 and back) right where it is produced, while the arithmetic stays FP32 - which is
also how TensorRT's FP16 convolutions accumulate.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import numpy_helper

FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


def tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor that shape inference can type (inputs, outputs, intermediates, weights)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        types[value.name] = value.type.tensor_type.elem_type
    for init in inferred.graph.initializer:
        types[init.name] = init.data_type
    return types


def _round_pair(source: str, target: str) -> list[onnx.NodeProto]:
    """source (FP32) -> rounded to FP16 -> target (FP32)."""
    half = f"{target}__fp16"
    return [
        onnx.helper.make_node("Cast", [source], [half], name=f"{target}__to_fp16", to=FLOAT16),
        onnx.helper.make_node("Cast", [half], [target], name=f"{target}__to_fp32", to=FLOAT),
    ]


def emulate_fp16_storage(model: onnx.ModelProto) -> onnx.ModelProto:
    """An all-FP32 copy of an FP16/mixed graph in which every FP16 tensor is rounded to FP16 where it is made.

    FP16 weights become FP32 with the same (already rounded) values; FP16 inputs and outputs become FLOAT.
    Run the result with graph optimisations off so that nothing folds the rounding casts away.
    """
    types = tensor_types(model)
    emulated = copy.deepcopy(model)
    graph = emulated.graph
    for index, init in enumerate(graph.initializer):
        if init.data_type == FLOAT16:
            graph.initializer[index].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32), init.name))
    nodes: list[onnx.NodeProto] = []
    renamed: dict[str, str] = {}
    for value in graph.input:
        if value.type.tensor_type.elem_type == FLOAT16:
            value.type.tensor_type.elem_type = FLOAT
            renamed[value.name] = f"{value.name}__rounded"
            nodes += _round_pair(value.name, renamed[value.name])
    for node in graph.node:
        node = copy.deepcopy(node)
        node.input[:] = [renamed.get(name, name) for name in node.input]
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == FLOAT16:
                attribute.i = FLOAT  # the rounding pair below does the narrowing
            elif attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == FLOAT16:
                attribute.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attribute.t).astype(np.float32)))
        half_outputs = [name for name in node.output if types.get(name) == FLOAT16]
        node.output[:] = [f"{name}__fp32" if name in half_outputs else name for name in node.output]
        nodes.append(node)
        for name in half_outputs:
            nodes += _round_pair(f"{name}__fp32", name)
    del graph.node[:]
    graph.node.extend(nodes)
    for value in graph.output:
        if value.type.tensor_type.elem_type == FLOAT16:
            value.type.tensor_type.elem_type = FLOAT
    del graph.value_info[:]  # stale FP16 annotations; ONNX Runtime re-infers
    return emulated
