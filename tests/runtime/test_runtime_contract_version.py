"""Every backend that reads a model file checks the I/O contract version it records (the TensorRT engine's
sidecar has its own test): a file exported for another contract is refused at load with one line."""

from __future__ import annotations

import pytest

from msau.runtime.backends.base import BackendError, open_backend
from msau.runtime.contract import CONTRACT_VERSION, CONTRACT_VERSION_KEY, check_contract_version
from msau.runtime.models import shipped_model


def test_check_contract_version():
    check_contract_version("m.onnx", str(CONTRACT_VERSION))
    check_contract_version("m.onnx", None)  # another tool's export: its I/O is checked at load instead
    with pytest.raises(ValueError, match=f"^m.onnx: exported for I/O contract version 99, this msau uses {CONTRACT_VERSION}; "):
        check_contract_version("m.onnx", "99")


@pytest.fixture(scope="module")
def other_contract(tmp_path_factory):
    """The shipped ONNX, recording contract version 99."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(shipped_model(".onnx")))
    for entry in model.metadata_props:
        if entry.key == CONTRACT_VERSION_KEY:
            entry.value = "99"
    path = tmp_path_factory.mktemp("contract") / "future.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backends_refuse_another_contract_version(other_contract, backend):
    with pytest.raises(BackendError, match=r"future.onnx: exported for I/O contract version 99, this msau uses \d+"):
        open_backend(backend, other_contract, "fp32")
    with open_backend(backend, shipped_model(".onnx"), "fp32") as opened:  # the shipped model records this one
        assert opened.model_path == shipped_model(".onnx")


def test_the_openvino_ir_keeps_the_version(other_contract, tmp_path):
    ov = pytest.importorskip("openvino")
    ov.save_model(ov.Core().read_model(str(other_contract)), str(tmp_path / "future.xml"))
    with pytest.raises(BackendError, match="future.xml: exported for I/O contract version 99"):
        open_backend("openvino", tmp_path / "future.xml", "fp32")
