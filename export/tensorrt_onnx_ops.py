"""The ONNX operators (and their data types) TensorRT's ONNX parser supports, and a check of a graph against them.

TensorRT cannot run on CI, so this list stands in for the parser there: every exported graph is checked
against it. Transcribed from onnx-tensorrt's operator support matrix:

    source: https://github.com/onnx/onnx-tensorrt/blob/main/docs/operators.md
    version: TensorRT 10.15 (GA 2026-02-02), "supports operators in the inclusive range of opset 9 to opset 24"

Only the operators marked supported ("Y") are listed. When updating, re-transcribe the whole table and change
TENSORRT_VERSION; the restrictions column is checked only where it can bite our graphs (Reduce* axes).
"""

from __future__ import annotations

import onnx

SOURCE_URL = "https://github.com/onnx/onnx-tensorrt/blob/main/docs/operators.md"
TENSORRT_VERSION = "10.15"
OPSET_RANGE = (9, 24)

_F = frozenset({"FP32", "FP16"})
_A = frozenset({"FP32", "FP16", "BF16"})
_AI = _A | {"INT32", "INT64"}
_AIB = _AI | {"BOOL"}
_BOOL = frozenset({"BOOL"})
_CAST = _AIB | {"UINT8"}
_CONST = _AIB | {"FP8", "FP4", "INT4"}

SUPPORTED_OPS: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        (
            "Acos Acosh Asin Asinh Atan Atanh AveragePool BatchNormalization Ceil Celu Clip Conv ConvTranspose Cos "
            "Cosh CumSum Dropout Einsum Elu Erf Exp Floor Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool "
            "GroupNormalization GRU HardSigmoid HardSwish Hardmax ImageScaler InstanceNormalization IsInf "
            "LayerNormalization LeakyRelu Log LogSoftmax LRN LSTM LpNormalization LpPool MatMul MaxPool "
            "MeanVarianceNormalization ParametricSoftplus PRelu QuantizeLinear RandomNormal RandomNormalLike "
            "RandomUniform RandomUniformLike Reciprocal Resize RMSNormalization RNN RotaryEmbedding Round ScaledTanh "
            "Scan Selu Sigmoid Sin Sinh Softmax Softplus Softsign Sqrt Tan Tanh ThresholdedRelu Upsample"
        ).split(),
        _A,
    ),
    **dict.fromkeys(
        (
            "Abs Add ArgMax ArgMin DepthToSpace Div Equal Greater GreaterOrEqual IsNaN Less LessOrEqual Max Min Mod "
            "Mul Neg Pad Pow Range ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin "
            "ReduceProd ReduceSum ReduceSumSquare Relu Scatter ScatterElements ScatterND Shrink Sign SpaceToDepth "
            "Sub Sum TopK"
        ).split(),
        _AI,
    ),
    **dict.fromkeys(
        (
            "Concat Expand EyeLike Flatten Gather GatherElements GatherND Identity If Loop OneHot Reshape "
            "ReverseSequence Shape Size Slice Split Squeeze Tile Transpose Trilu Unsqueeze Where"
        ).split(),
        _AIB,
    ),
    **dict.fromkeys("BlackmanWindow DeformConv GridSample HammingWindow HannWindow Mish NonMaxSuppression NonZero RoiAlign".split(), _F),
    **dict.fromkeys("And Not Or Xor".split(), _BOOL),
    "Attention": _A | {"INT8", "FP8"},
    "Cast": _CAST,
    "CastLike": _CAST,
    "Constant": _CONST,
    "ConstantOfShape": _CONST,
    "DequantizeLinear": frozenset({"INT8", "FP8", "FP4", "INT4"}),
    "Gelu": _AI | {"INT8"},
    "Mean": _AI | {"FP8"},
    "STFT": frozenset({"FP32"}),
    "TensorScatter": _A | {"INT32"},
}

# ONNX element types under the names the support matrix uses.
TYPE_NAMES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "FP32",
    onnx.TensorProto.FLOAT16: "FP16",
    onnx.TensorProto.BFLOAT16: "BF16",
    onnx.TensorProto.DOUBLE: "FP32",  # the parser casts DOUBLE down to FLOAT
    onnx.TensorProto.INT32: "INT32",
    onnx.TensorProto.INT64: "INT64",
    onnx.TensorProto.INT8: "INT8",
    onnx.TensorProto.UINT8: "UINT8",
    onnx.TensorProto.BOOL: "BOOL",
}

# Reductions whose `axes` became an input at opset 18: TensorRT needs it to be an initializer (a constant).
_AXES_INPUT_SINCE = {"ReduceSum": 13}
_REDUCE_OPS = {op for op in SUPPORTED_OPS if op.startswith("Reduce")}


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except onnx.shape_inference.InferenceError:  # e.g. a custom op: check the declared types only
        inferred = model
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.input) + list(inferred.graph.output)})
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    return types


def tensorrt_problems(model: onnx.ModelProto) -> list[str]:
    """Why TensorRT's ONNX parser would reject this graph (per the list above); empty if it would not.

    Checked: the opset range, every node's op type (default domain only), the data type of each node's first
    input and of every Cast's target, and that Reduce* `axes` inputs are constants.
    """
    problems = []
    opset = _opset(model)
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        problems.append(f"opset {opset} is outside TensorRT {TENSORRT_VERSION}'s range {OPSET_RANGE[0]}-{OPSET_RANGE[1]}")
    types = _tensor_types(model)
    constants = {i.name for i in model.graph.initializer}
    constants.update(out for node in model.graph.node if node.op_type == "Constant" for out in node.output)
    for node in model.graph.node:
        where = f"node {node.name or '(unnamed)'} ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{where}: custom domain {node.domain!r} needs a TensorRT plugin")
            continue
        supported = SUPPORTED_OPS.get(node.op_type)
        if supported is None:
            problems.append(f"{where}: op type not supported by TensorRT {TENSORRT_VERSION}'s ONNX parser")
            continue
        checked = [types.get(node.input[0])] if node.input and node.input[0] else []
        if node.op_type in ("Cast", "CastLike"):
            checked += [a.i for a in node.attribute if a.name == "to"]
        for elem in checked:
            if elem is None:
                continue
            name = TYPE_NAMES.get(elem, onnx.TensorProto.DataType.Name(elem))
            if name not in supported:
                problems.append(f"{where}: data type {name} not supported (supported: {', '.join(sorted(supported))})")
        if node.op_type in _REDUCE_OPS and opset >= _AXES_INPUT_SINCE.get(node.op_type, 18) and len(node.input) > 1:
            if node.input[1] and node.input[1] not in constants:
                problems.append(f"{where}: `axes` must be an initializer for TensorRT")
    return problems


def op_types(model: onnx.ModelProto) -> set[str]:
    """The distinct op types of a graph's nodes."""
    return {node.op_type for node in model.graph.node}
