"""The I/O contract: names, scales, size rules; and the runtime staying free of torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from msau.runtime import contract


def test_names_and_channels() -> None:
    assert contract.INPUT_NAME == "input" and contract.OUTPUT_NAME == "ab"
    assert contract.INPUT_CHANNELS == 4 and contract.OUTPUT_CHANNELS == 2
    channels = (contract.CHANNEL_L, contract.CHANNEL_A_HINT, contract.CHANNEL_B_HINT, contract.CHANNEL_MASK)
    assert channels == (0, 1, 2, 3)
    assert (contract.L_SCALE, contract.AB_SCALE) == (100.0, 110.0)
    assert contract.DEFAULT_SIZE % contract.SIZE_MULTIPLE == 0


@pytest.mark.parametrize("size", [(16, 16), (256, 256), (32, 48), (1024, 16)])
def test_check_size_accepts_multiples(size: tuple[int, int]) -> None:
    contract.check_size(*size)


@pytest.mark.parametrize("size", [(30, 32), (32, 30), (0, 32), (-16, 32), (8, 8)])
def test_check_size_rejects_others(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=rf"multiple of 16 on both sides, got {size[0]}x{size[1]}"):
        contract.check_size(*size)


@pytest.mark.parametrize(("size", "expected"), [(256, 256), (250, 256), (247, 240), (1, 16), (0, 16), (8, 16), (24, 32)])
def test_round_size(size: int, expected: int) -> None:
    assert contract.round_size(size) == expected


def test_metadata_records_the_contract() -> None:
    meta = contract.metadata()
    assert meta["msau_contract_version"] == str(contract.CONTRACT_VERSION)
    assert meta["input_name"] == "input" and meta["output_name"] == "ab"
    assert meta["input_channels"] == "L/100,a_hint/110,b_hint/110,mask"
    assert all(isinstance(value, str) for value in meta.values())


def test_runtime_imports_no_torch() -> None:
    # A fresh interpreter: this test process may already hold torch from the model tests.
    code = (
        "import sys\n"
        "import msau.runtime, msau.runtime.contract, msau.runtime.color, msau.runtime.hints\n"
        "import msau.runtime.encoding, msau.runtime.metrics\n"
        "heavy = sorted(m for m in ('torch', 'tensorrt', 'skimage') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
