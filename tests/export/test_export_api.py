"""msau.export.export as an API, and every artifact it writes opened by every consumer through the one naming rule
(msau.runtime.artifacts): the Colorizer on each CPU backend and auto, and msau-bench's configuration discovery."""

from __future__ import annotations

import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from msau.export import Artifact, ExportOptions, ExportRefused, ExportUsageError, Progress, export
from msau.export.cli import main
from msau.runtime.artifacts import (
    CHECKPOINT_SUFFIX,
    ENGINE_SUFFIX,
    IR_SUFFIX,
    ONNX_SUFFIX,
    artifact_path,
    parse_artifact,
)

SIZE = 64
SMALL = (SIZE, SIZE, SIZE)


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    """(folder, artifacts, progress events) of one export of every CPU artifact, plus the checkpoint beside them
    (the torch backend's file) and the OpenVINO IR even where OpenVINO's measurement declined it."""
    out = tmp_path_factory.mktemp("exported")
    events: list[Progress] = []
    artifacts = export(tiny_checkpoint, ExportOptions(out=out, fp16=True, openvino=True, size=SMALL), events.append)
    fp32 = artifact_path(out, "tiny", ONNX_SUFFIX)
    if not artifact_path(out, "tiny", IR_SUFFIX).is_file():
        from msau.export.openvino_ir import save_ir

        save_ir(fp32, artifact_path(out, "tiny", IR_SUFFIX), compress_to_fp16=True)
    shutil.copy(tiny_checkpoint, artifact_path(out, "tiny", CHECKPOINT_SUFFIX))
    return out, artifacts, events


def test_export_returns_the_artifacts_named_by_the_rule(exported):
    out, artifacts, events = exported
    assert all(isinstance(a, Artifact) for a in artifacts)
    names = [a.path.name for a in artifacts]
    assert names[:2] == ["tiny.onnx", "tiny.fp16.onnx"] and set(names) <= {"tiny.onnx", "tiny.fp16.onnx", "tiny.xml"}
    assert [(parse_artifact(a.path).stem, parse_artifact(a.path).precision) for a in artifacts[:2]] == [
        ("tiny", "fp32"),
        ("tiny", "fp16"),
    ]
    assert all(a.path.parent == out and a.size_bytes == a.path.stat().st_size for a in artifacts if a.path.suffix == ONNX_SUFFIX)
    assert "vs PyTorch" in artifacts[0].figure and "vs fp32" in artifacts[1].figure
    # Progress: every step that starts also ends, with its duration.
    steps = [e for e in events if e.kind == "step"]
    done = [e for e in events if e.kind == "done"]
    assert len(steps) == len(done) >= 7 and all(e.seconds >= 0 for e in done)
    assert not [e for e in events if e.kind in ("refused", "warning")]


def test_refused_artifacts_raise_with_what_was_written(large_activation_checkpoint, tmp_path):
    with pytest.raises(ExportRefused) as refused:
        export(large_activation_checkpoint, ExportOptions(out=tmp_path, fp16=True, size=SMALL))
    assert [a.path.name for a in refused.value.artifacts] == ["loud.onnx"]
    assert len(refused.value.reasons) == 1 and refused.value.reasons[0].startswith("loud.fp16.onnx fails the FP16 gate")


def photo() -> np.ndarray:
    from msau.export.samples import smooth_images

    return smooth_images(1, 48, 80, seed=3)[0]  # (48, 80, 3) uint8


def colorize(model: Path, backend: str, precision: str | None = None) -> tuple[str, np.ndarray]:
    """(name of the file the backend opened, the colorized photo) through the Colorizer."""
    from msau import Colorizer

    hints = {"hints": [{"x": 10, "y": 12, "rgb": [200, 40, 40]}, {"x": 60, "y": 30, "rgb": [20, 90, 200]}]}
    with Colorizer(model, backend=backend, precision=precision, size=SIZE) as colorizer:
        return colorizer.backend.model_path.name, colorizer(photo(), hints)


@pytest.fixture(scope="module")
def reference(exported) -> np.ndarray:
    """The photo colorized from the FP32 ONNX on ONNX Runtime."""
    return colorize(exported[0] / "tiny.onnx", "onnxruntime", "fp32")[1]


@pytest.mark.parametrize(
    "given, backend, precision, opened",
    [
        ("tiny.onnx", "onnxruntime", "fp32", "tiny.onnx"),
        ("tiny.onnx", "onnxruntime", "fp16", "tiny.fp16.onnx"),
        ("tiny.fp16.onnx", "onnxruntime", "fp32", "tiny.onnx"),
        ("tiny.fp16.onnx", "onnxruntime", "fp16", "tiny.fp16.onnx"),
        ("tiny.onnx", "openvino", "fp32", "tiny.xml"),
        ("tiny.fp16.onnx", "openvino", "fp32", "tiny.xml"),
        ("tiny.onnx", "torch", "fp32", "tiny.safetensors"),
        ("tiny.fp16.onnx", "torch", "fp32", "tiny.safetensors"),
        ("tiny.onnx", "auto", "fp32", "tiny.xml"),  # no GPU here: OpenVINO, on the IR
        ("tiny.safetensors", "auto", None, "tiny.safetensors"),
    ],
)
def test_every_consumer_opens_each_artifact_by_the_rule(exported, reference, given, backend, precision, opened):
    out = exported[0]
    name, rgb = colorize(out / given, backend, precision)
    assert name == opened
    difference = np.abs(rgb.astype(np.int16) - reference.astype(np.int16))
    # The same network from another file and runner: the photos agree to a few levels (FP16 and IR-FP16
    # weights round; everything else is float32).
    assert rgb.shape == reference.shape == (48, 80, 3)
    assert difference.mean() < 1.0 and difference.max() <= 12


def test_msau_bench_discovers_each_artifact_by_the_rule(exported):
    from msau.benchmarks.configs import OK, plan_configs

    out = exported[0]
    for model in ("tiny.onnx", "tiny.fp16.onnx", "tiny.xml", "tiny.safetensors"):
        configs = {c.key: c for c in plan_configs(out / model, precisions=["fp32", "fp16", "bf16"])}
        found = {key: c.artifact.name for key, c in configs.items() if c.status == OK}
        assert found == {
            "onnxruntime/fp32": "tiny.onnx",
            "onnxruntime/fp16": "tiny.fp16.onnx",
            "openvino/fp32": "tiny.xml",
            "openvino/bf16": "tiny.xml",
            "torch/fp32": "tiny.safetensors",
            "torch/fp16": "tiny.safetensors",
            "torch/bf16": "tiny.safetensors",
        }, model
        assert configs["tensorrt/-"].status == "skipped" and "tiny[.<precision>].engine" in configs["tensorrt/-"].reason


@pytest.mark.tensorrt
def test_engine_opened_by_the_rule(tiny_checkpoint, tmp_path):
    from msau.runtime.artifacts import find_engine

    artifacts = export(tiny_checkpoint, ExportOptions(out=tmp_path, fp16=True, engine=True, batch=(1, 2, 4), size=SMALL))
    engine = artifact_path(tmp_path, "tiny", ENGINE_SUFFIX, "fp16")
    assert engine in [a.path for a in artifacts] and find_engine(tmp_path / "tiny.onnx") == engine
    for backend in ("tensorrt", "auto"):
        name, rgb = colorize(tmp_path / "tiny.onnx", backend)
        assert name == engine.name and rgb.shape == (48, 80, 3)


# --- usage errors: one line, exit 2, before the model is loaded --------------------------------------------


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A PNG whose header declares width x height pixels, with one tiny compressed row (a decompression bomb's
    header: the file is a few hundred bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def usage_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "loading" not in captured.out  # refused before the checkpoint was read
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    return lines[0]


def test_out_that_is_a_file_exits_2(tiny_checkpoint, tmp_path, capsys):
    blocker = tmp_path / "models"
    blocker.write_text("not a folder")
    line = usage_error(["--weights", str(tiny_checkpoint), "--out", str(blocker)], capsys)
    assert line == f"msau-export: --out {blocker}: is a file, not a folder"
    line = usage_error(["--weights", str(tiny_checkpoint), "--out", str(blocker / "sub")], capsys)
    assert line == f"msau-export: --out {blocker / 'sub'}: lies under {blocker}, which is a file, not a folder"
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /sys, where nobody (root included) creates files")
def test_out_that_cannot_be_written_exits_2(tiny_checkpoint, capsys):
    line = usage_error(["--weights", str(tiny_checkpoint), "--out", "/sys/msau-export-test/models"], capsys)
    assert line.startswith("msau-export: --out /sys/msau-export-test/models: cannot write in /sys (")


def test_images_over_the_pixel_limit_exit_2(tiny_checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    bomb = bomb_png(photos / "bomb.png")
    assert bomb.stat().st_size < 200
    out = tmp_path / "out"
    line = usage_error(["--weights", str(tiny_checkpoint), "--out", str(out), "--images", str(photos)], capsys)
    assert line == f"msau-export: --images: {bomb}: 30000x30000 pixels is over the limit of 200,000,000 pixels"
    line = usage_error(
        ["--weights", str(tiny_checkpoint), "--out", str(out), "--images", str(photos), "--max-pixels", "0"], capsys
    )
    assert line == "msau-export: --max-pixels: max_pixels must be a positive integer, got 0"
    assert not out.exists()


def test_api_raises_usage_errors(tiny_checkpoint, tmp_path):
    with pytest.raises(ExportUsageError, match="--size values must be multiples of 16"):
        export(tiny_checkpoint, ExportOptions(out=tmp_path, size=(48, 56, 64)))
    with pytest.raises(ExportUsageError, match="no such checkpoint"):
        export(tmp_path / "nope.safetensors", ExportOptions(out=tmp_path))
    assert isinstance(ExportUsageError("x"), ValueError)
