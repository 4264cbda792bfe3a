"""ONNX export: checker, I/O contract, dynamic axes, metadata, parity with PyTorch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from msau.export import checks
from msau.export.onnx_export import (
    CONFIG_KEY,
    PRECISION_KEY,
    dynamic_axes_kept,
    export_model,
    export_onnx,
    read_metadata,
)
from msau.runtime.contract import CONTRACT_VERSION, INPUT_NAME, OUTPUT_NAME

TINY_WIDTHS = (4, 8, 16, 32, 64)  # as tests/export/conftest.py builds them


def test_export_passes_full_checker_and_contract(tiny_export):
    _, path = tiny_export
    checks.check_onnx(path)
    model = onnx.load(str(path))
    checks.check_contract(model, path.name)
    assert dynamic_axes_kept(model)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert opset >= 17
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME]


def test_metadata_records_contract_and_config(tiny_export):
    _, path = tiny_export
    meta = read_metadata(onnx.load(str(path)))
    assert meta["msau_contract_version"] == str(CONTRACT_VERSION)
    assert meta[PRECISION_KEY] == "fp32"
    assert tuple(json.loads(meta[CONFIG_KEY])["widths"]) == TINY_WIDTHS


def test_dynamic_axes_batch_3_at_256x384(tiny_export):
    model, path = tiny_export
    x = np.random.default_rng(0).uniform(0, 1, (3, 4, 256, 384)).astype(np.float32)
    x[:, 3] = x[:, 3] > 0.99  # a sparse hint mask
    ab = checks.run_onnx(path, x)
    assert ab.shape == (3, 2, 256, 384)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert float(np.max(np.abs(ab - expected))) < 1e-4


def test_parity_on_photos_with_hints(tiny_export, verification):
    model, path = tiny_export
    report = checks.torch_parity(model, path, verification)
    assert report.passed
    assert 0 < report.max_abs_error < 1e-4  # ORT and PyTorch never agree bit for bit on a real network
    assert report.images == 3
    # The outputs vary with the photo: a constant network would make parity meaningless.
    ab = checks.run_onnx(path, verification.inputs)
    assert float(ab.std()) > 0.01


def test_parity_refuses_a_wrong_graph(tiny_export, verification, tmp_path):
    model, path = tiny_export
    graph = onnx.load(str(path))
    head = next(i for i in graph.graph.initializer if i.name == "head.bias")
    bias = onnx.numpy_helper.to_array(head).copy()
    bias[0] += 1e-3  # a drift twice the tolerance, a hundredth of what a wrong op makes
    head.CopyFrom(onnx.numpy_helper.from_array(bias, head.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(graph, str(broken))
    report = checks.torch_parity(model, broken, verification)
    assert not report.passed
    assert report.max_abs_error == pytest.approx(1e-3, rel=1e-2)
    assert "limit 5e-04" in report.summary()


def test_export_onnx_keeps_its_signature(tmp_path, make_tiny):
    path = export_onnx(make_tiny(seed=3), tmp_path / "sub" / "m.onnx", 17, 32)
    assert path == tmp_path / "sub" / "m.onnx"
    checks.check_onnx(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.onnx"]  # no temporary left behind


def test_simplification_is_kept_only_when_it_helps(tmp_path, make_tiny):
    result = export_model(make_tiny(seed=4), tmp_path / "m.onnx", size=32)
    assert result.nodes_written <= result.nodes_exported
    assert result.simplified == (result.nodes_written < result.nodes_exported)
    assert dynamic_axes_kept(onnx.load(str(result.path)))


def test_old_opset_is_refused(tmp_path, make_tiny):
    with pytest.raises(ValueError, match="opset 16 is too old"):
        export_model(make_tiny(), tmp_path / "m.onnx", opset=16)
    assert not (tmp_path / "m.onnx").exists()


def test_contract_check_names_the_problem():
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4, 8, 8])
    y = onnx.helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT16, ["n", 2, "h", "w"])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], [OUTPUT_NAME])], "g", [x], [y])
    with pytest.raises(checks.VerificationError) as error:
        checks.check_contract(onnx.helper.make_model(graph), "bad.onnx")
    message = str(error.value)
    assert message.startswith("bad.onnx: does not follow the I/O contract")
    assert "expected one tensor 'input', found ['x']" in message
    assert "'ab' is FLOAT16, the contract says FLOAT" in message
