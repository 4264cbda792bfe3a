"""msau-export end to end on tiny checkpoints: artifacts, verification, refusals, exit codes, --help."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest

from msau.export import checks
from msau.export.cli import main
from msau.export.onnx_export import CONFIG_KEY, PRECISION_KEY, read_metadata

SMALL = ["--size", "64,64,64"]


def test_end_to_end_fp32_fp16_openvino(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "models"
    assert main(["--weights", str(tiny_checkpoint), "--out", str(out), "--fp16", "--openvino", *SMALL]) == 0
    stdout = capsys.readouterr().out
    fp32, fp16 = out / "tiny.onnx", out / "tiny.fp16.onnx"
    for path in (fp32, fp16):
        checks.check_onnx(path)
        checks.check_contract(onnx.load(str(path)), path.name)
    meta = read_metadata(onnx.load(str(fp16)))
    assert meta[PRECISION_KEY] == "fp16" and json.loads(meta[CONFIG_KEY])["widths"] == [4, 8, 16, 32, 64]
    # Every step says what it did and how long it took; the figures are printed.
    assert stdout.count("done in") >= 8
    assert re.search(r"max \|ONNX - PyTorch\| = \d\.\d\de-\d\d \(limit 5e-04\) on 4 images", stdout)
    assert re.search(r"output PSNR \d+\.\d dB vs FP32 \(min 45\)", stdout)
    assert re.search(r"onnx +f32 +\d+\.\d\d +\d+\.\d{3} +\d+\.\d +\d+\.\d", stdout)  # OpenVINO figures
    # The IR exists exactly when the measurement said it helps.
    wrote_ir = "decision: write ir-" in stdout
    assert (out / "tiny.xml").is_file() == wrote_ir == (out / "tiny.bin").is_file()
    table = stdout[stdout.index("artifact") :]
    assert re.search(r"tiny\.onnx +\d+\.\d\d +fp32 +max abs err \d\.\de-\d\d vs PyTorch +\d+\.\d", table)
    assert re.search(r"tiny\.fp16\.onnx +\d+\.\d\d +fp16 +out \d+\.\d dB, img [+-]\d\.\d{3} dB vs fp32", table)
    leftovers = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert leftovers == []  # the staging folder and temporary files are gone
    # The written FP32 graph is the verified one: it runs at another size and batch.
    x = np.zeros((2, 4, 32, 48), np.float32)
    assert checks.run_onnx(fp32, x).shape == (2, 2, 32, 48)


def test_failing_fp16_gate_is_refused_with_figures_and_node_types(large_activation_checkpoint, tmp_path, capsys):
    out = tmp_path / "models"
    assert main(["--weights", str(large_activation_checkpoint), "--out", str(out), "--fp16", *SMALL]) == 1
    captured = capsys.readouterr()
    assert "REFUSED: loud.fp16.onnx fails the FP16 gate: output PSNR" in captured.err
    assert re.search(r"Offending node types: [A-Za-z, ]*(Conv|Relu)", captured.err)
    assert "overflow FP16" in captured.err
    assert (out / "loud.onnx").is_file()  # the FP32 graph passed its own checks
    assert not (out / "loud.fp16.onnx").exists()
    assert "some artifacts failed their checks and were not written" in captured.err


def test_no_verify_writes_a_failing_artifact_with_a_warning(large_activation_checkpoint, tmp_path, capsys):
    out = tmp_path / "models"
    args = ["--weights", str(large_activation_checkpoint), "--out", str(out), "--fp16", "--no-verify", *SMALL]
    assert main(args) == 0
    assert "WARNING (written anyway, --no-verify): loud.fp16.onnx fails the FP16 gate" in capsys.readouterr().out
    assert (out / "loud.fp16.onnx").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--size", "48,56,64"], "--size values must be multiples of 16"),
        (["--batch", "8,1,4"], "--batch must be MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX"),
        (["--opset", "13"], "--opset must be at least 17, got 13"),
        (["--workspace", "0"], "--workspace must be a positive number of MB"),
    ],
)
def test_bad_options_exit_2(tiny_checkpoint, tmp_path, capsys, extra, message):
    out = tmp_path / "models"
    assert main(["--weights", str(tiny_checkpoint), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_checkpoint_exits_2(tmp_path, capsys):
    assert main(["--weights", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "o")]) == 2
    assert f"{tmp_path / 'nope.safetensors'}: no such checkpoint" in capsys.readouterr().err


def test_help_explains_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option, default in [
        ("--weights", "msau-tiny.safetensors"),
        ("--batch", "(default: 1,8,32)"),
        ("--size", "(default: 256,256,512)"),
        ("--opset", "(default: 17)"),
        ("--workspace", "(default: 4096)"),
        ("--timing-cache", "DIR/tensorrt.timing.cache"),
        ("--hardware-compatibility", "(default: none)"),
        ("--images", "generated smooth images"),
    ]:
        assert option in text and default in text, option
    for flag in ("--out", "--fp16", "--engine", "--openvino", "--no-verify", "--force", "--name"):
        assert flag in text
