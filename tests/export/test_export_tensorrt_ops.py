"""Every op type in the exported FP32 and FP16 graphs is one TensorRT's ONNX parser supports (CI has no TensorRT)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from msau.export.tensorrt_onnx_ops import (
    OPSET_RANGE,
    SOURCE_URL,
    SUPPORTED_OPS,
    TENSORRT_VERSION,
    op_types,
    tensorrt_problems,
)

helper, tp = onnx.helper, onnx.TensorProto


def test_the_list_names_its_source_and_version():
    assert SOURCE_URL.startswith("https://github.com/onnx/onnx-tensorrt/")
    assert TENSORRT_VERSION.split(".")[0] == "10"
    assert OPSET_RANGE == (9, 24)
    # Spot checks against the matrix: supported ops, and ops the parser lacks.
    assert SUPPORTED_OPS["Conv"] == {"FP32", "FP16", "BF16"}
    assert "INT64" in SUPPORTED_OPS["ReduceMean"]
    assert not {"Unique", "ConvInteger", "StringNormalizer", "Bernoulli"} & SUPPORTED_OPS.keys()


def test_fp32_graph_is_supported(tiny_export):
    model = onnx.load(str(tiny_export[1]))
    assert op_types(model) <= SUPPORTED_OPS.keys()
    assert {"Conv", "ConvTranspose", "ReduceMean", "ReduceMax", "Sigmoid", "MaxPool"} <= op_types(model)
    assert tensorrt_problems(model) == []


def test_fp16_graph_is_supported(tiny_fp16):
    model = tiny_fp16[0]
    assert op_types(model) <= SUPPORTED_OPS.keys()
    assert "Cast" in op_types(model)
    assert tensorrt_problems(model) == []


def _model(nodes, inputs, outputs, opset=17, initializers=(), domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=imports)


def test_unsupported_op_type_and_domain_are_named():
    x = helper.make_tensor_value_info("x", tp.FLOAT, [4])
    outs = [helper.make_tensor_value_info(n, tp.FLOAT, None) for n in ("u", "c")]
    nodes = [
        helper.make_node("Unique", ["x"], ["u"], name="dedupe"),
        helper.make_node("Fancy", ["x"], ["c"], name="custom", domain="com.example"),
    ]
    problems = tensorrt_problems(_model(nodes, [x], outs, domains=["com.example"]))
    assert any(p.startswith("node dedupe (Unique): op type not supported by TensorRT") for p in problems)
    assert any("node custom (Fancy): custom domain 'com.example' needs a TensorRT plugin" in p for p in problems)


def test_unsupported_data_type_and_opset_are_named():
    x = helper.make_tensor_value_info("x", tp.FLOAT, [4])
    y = helper.make_tensor_value_info("y", tp.FLOAT, [4])
    nodes = [
        helper.make_node("Cast", ["x"], ["d"], name="narrow", to=tp.INT8),
        helper.make_node("Cast", ["d"], ["y"], name="back", to=tp.FLOAT),
    ]
    problems = tensorrt_problems(_model(nodes, [x], [y], opset=8))
    assert any("opset 8 is outside TensorRT" in p for p in problems)
    assert any(p.startswith("node narrow (Cast): data type INT8 not supported") for p in problems)


@pytest.mark.parametrize("axes_constant", [True, False])
def test_reduce_axes_must_be_constant_from_opset_18(axes_constant):
    x = helper.make_tensor_value_info("x", tp.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", tp.FLOAT, None)
    inputs = [x]
    initializers = []
    if axes_constant:
        initializers.append(onnx.numpy_helper.from_array(np.array([1], np.int64), "axes"))
    else:
        inputs.append(helper.make_tensor_value_info("axes", tp.INT64, [1]))
    node = helper.make_node("ReduceMax", ["x", "axes"], ["y"], name="peak")
    problems = tensorrt_problems(_model([node], inputs, [y], opset=18, initializers=initializers))
    assert problems == ([] if axes_constant else ["node peak (ReduceMax): `axes` must be an initializer for TensorRT"])
