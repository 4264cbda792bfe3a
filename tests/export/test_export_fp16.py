"""FP16 conversion and its gate: float32 I/O, sensitive ops in FP32, a passing model and refused ones."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from msau.export import checks
from msau.export.fp16 import (
    DEFAULT_OP_BLOCK_LIST,
    FP16_MAX,
    convert_fp16,
    divergent_nodes,
    head_nodes,
    restore_float_outputs,
)
from msau.export.onnx_export import PRECISION_KEY, export_model, read_metadata


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    return {v.name: v.type.tensor_type.elem_type for v in values}


def test_fp16_graph_keeps_float32_io_and_blocked_ops_in_fp32(tiny_fp16, tiny_export):
    converted, conversion, path = tiny_fp16
    checks.check_onnx(path)
    checks.check_contract(converted, path.name)  # input and ab stay FLOAT
    types = _types(converted)
    kinds = {}
    for node in converted.graph.node:
        if node.op_type != "Cast":
            kinds.setdefault(node.op_type, set()).add(types[node.input[0]])
    for op in DEFAULT_OP_BLOCK_LIST:
        assert kinds[op] == {onnx.TensorProto.FLOAT}, op
    assert kinds["Conv"] == {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}  # the head is the FP32 one
    head = head_nodes(onnx.load(str(tiny_export[1])))
    assert conversion.node_block_list == tuple(head) and len(head) == 1
    head_node = next(n for n in converted.graph.node if n.name == head[0])
    assert types[head_node.input[0]] == onnx.TensorProto.FLOAT
    assert conversion.fp16_nodes > 3 * conversion.fp32_nodes  # most of the work does run in FP16
    assert read_metadata(converted)[PRECISION_KEY] == "fp16"


def test_fp16_gate_passes_with_figures(tiny_fp16, tiny_export, verification):
    _, _, path = tiny_fp16
    report = checks.fp16_gate(tiny_export[1], path, verification)
    assert report.passed
    assert report.output_psnr >= 45.0
    assert abs(report.image_psnr_delta) <= 0.05
    assert 10.0 < report.image_psnr_fp32 < 60.0  # a real (if poor) colorization, scored against the photos
    assert 0 < report.max_abs_error < 1e-2
    assert f"output PSNR {report.output_psnr:.1f} dB" in report.summary()


def test_fp16_gate_refuses_with_forced_thresholds(tiny_fp16, tiny_export, verification):
    _, _, path = tiny_fp16
    report = checks.fp16_gate(tiny_export[1], path, verification, min_output_psnr=200.0, max_image_psnr_delta=0.0)
    assert not report.passed
    assert "(min 200)" in report.summary()


def test_large_activations_fail_the_gate_and_are_located(tmp_path, verification, large_activation_checkpoint):
    from msau.model.checkpoint import load_checkpoint

    model, _ = load_checkpoint(large_activation_checkpoint)
    fp32_path = export_model(model, tmp_path / "loud.onnx", size=64).path
    assert checks.torch_parity(model, fp32_path, verification).passed  # FP32 is fine: same function
    fp32 = onnx.load(str(fp32_path))
    converted, _ = convert_fp16(fp32)
    report = checks.fp16_gate(fp32_path, converted.SerializeToString(), verification)
    assert not report.passed
    assert report.output_psnr < 45.0
    culprits = divergent_nodes(fp32, converted, verification.inputs)
    assert culprits and culprits[0].overflow
    assert culprits[0].op_type in {"Conv", "Relu"}
    assert culprits[0].max_magnitude > FP16_MAX
    assert "overflow FP16" in culprits[0].describe()


def test_restore_float_outputs_drops_a_trailing_cast():
    """onnxconverter-common ends a blocked output node with a Cast to FLOAT16 despite keep_io_types."""
    helper, tp = onnx.helper, onnx.TensorProto
    x = helper.make_tensor_value_info("input", tp.FLOAT, ["n", 4, "h", "w"])
    y = helper.make_tensor_value_info("ab", tp.FLOAT16, ["n", 4, "h", "w"])
    nodes = [
        helper.make_node("Relu", ["input"], ["r"], name="head"),
        helper.make_node("Cast", ["r"], ["ab"], name="cast", to=tp.FLOAT16),
    ]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    assert restore_float_outputs(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Relu"]
    assert list(model.graph.node[0].output) == ["ab"]
    assert model.graph.output[0].type.tensor_type.elem_type == tp.FLOAT
    out = checks.cpu_session(model.SerializeToString()).run(None, {"input": -np.ones((1, 4, 2, 2), np.float32)})[0]
    assert out.dtype == np.float32 and float(out.max()) == 0.0


def test_emulation_rounds_every_fp16_tensor_where_it_is_made():
    """ONNX Runtime's CPU provider computes FP16 Mul/Relu in FP32; emulation makes 100 * 1000 overflow."""
    from msau.export.fp16_emulation import emulate_fp16_storage

    helper, tp = onnx.helper, onnx.TensorProto
    scale = onnx.numpy_helper.from_array(np.array(1000, np.float16), "scale")
    back = onnx.numpy_helper.from_array(np.array(0.001, np.float16), "back")
    nodes = [
        helper.make_node("Cast", ["x"], ["h"], to=tp.FLOAT16),
        helper.make_node("Mul", ["h", "scale"], ["m"]),
        helper.make_node("Relu", ["m"], ["r"]),
        helper.make_node("Mul", ["r", "back"], ["y16"]),
        helper.make_node("Cast", ["y16"], ["y"], to=tp.FLOAT),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", tp.FLOAT, [3])],
        [helper.make_tensor_value_info("y", tp.FLOAT, [3])], [scale, back],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.array([100.0, 1.0, 0.1], np.float32)
    emulated = emulate_fp16_storage(model)
    assert all(i.data_type == tp.FLOAT for i in emulated.graph.initializer)
    y = checks.cpu_session(emulated.SerializeToString(), optimize=False).run(None, {"x": x})[0]
    assert np.isinf(y[0])  # 1e5 does not fit FP16
    assert y[1] == pytest.approx(1.0, rel=1e-3)
    assert y[2] == np.float32(np.float16(np.float16(np.float16(0.1) * np.float16(1000)) * np.float16(0.001)))
