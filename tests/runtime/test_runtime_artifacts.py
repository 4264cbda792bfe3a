"""The one naming rule for artifacts: names composed and parsed, and files found by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from msau.runtime.artifacts import (
    ENGINE_SUFFIXES,
    ArtifactName,
    artifact_candidates,
    artifact_filename,
    artifact_path,
    find_engine,
    model_stem,
    parse_artifact,
    resolve_artifact,
)


def touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    "stem, suffix, precision, name",
    [
        ("msau-tiny", ".onnx", "fp32", "msau-tiny.onnx"),
        ("msau-tiny", ".onnx", "fp16", "msau-tiny.fp16.onnx"),
        ("msau-tiny", ".onnx", "int8", "msau-tiny.int8.onnx"),
        ("msau-tiny", ".engine", "fp16", "msau-tiny.fp16.engine"),
        ("msau-tiny", ".engine", "fp32", "msau-tiny.engine"),
        ("best.v2", ".xml", "fp32", "best.v2.xml"),
        ("best.v2", ".safetensors", "fp32", "best.v2.safetensors"),
    ],
)
def test_names_compose_and_parse_back(stem, suffix, precision, name):
    assert artifact_filename(stem, suffix, precision) == name
    assert parse_artifact(Path("any/folder") / name) == ArtifactName(stem, precision, suffix)
    assert model_stem(name) == stem


def test_unknown_precision_and_odd_names():
    with pytest.raises(ValueError, match="unknown precision 'fp8'; choose one of fp32, fp16, bf16, int8"):
        artifact_filename("m", ".onnx", "fp8")
    assert parse_artifact("M.FP16.ONNX") == ArtifactName("M", "fp16", ".onnx")
    assert parse_artifact("model") == ArtifactName("model", "fp32", "")
    assert parse_artifact("m-fp16.onnx") == ArtifactName("m-fp16", "fp32", ".onnx")  # not the rule's marker


def test_candidates_most_specific_first(tmp_path):
    model = tmp_path / "m.onnx"
    assert artifact_candidates(model, (".xml", ".onnx"), "bf16") == [
        tmp_path / "m.bf16.xml", tmp_path / "m.bf16.onnx", tmp_path / "m.xml", tmp_path / "m.onnx"
    ]
    # Engines other tools wrote (.plan, .trt) are read when given, never searched for.
    assert artifact_candidates(tmp_path / "m.onnx", ENGINE_SUFFIXES, "fp16") == [tmp_path / "m.fp16.engine", tmp_path / "m.engine"]
    assert artifact_candidates(tmp_path / "x.plan", ENGINE_SUFFIXES, "fp32") == [tmp_path / "x.engine", tmp_path / "x.plan"]


def test_int8_is_served_from_its_own_file_only(tmp_path):
    model = touch(tmp_path / "m.onnx")
    assert artifact_candidates(model, (".onnx",), "int8") == [tmp_path / "m.int8.onnx"]
    assert resolve_artifact(model, (".onnx",), "int8") is None
    int8 = touch(tmp_path / "m.int8.onnx")
    assert resolve_artifact(model, (".onnx",), "int8") == int8 == resolve_artifact(int8, (".onnx",), "int8")
    assert resolve_artifact(int8, (".onnx",), "fp16") == model  # fp16: converted in memory from the FP32 graph


def test_resolution_needs_complete_files(tmp_path):
    model = touch(tmp_path / "m.onnx")
    touch(tmp_path / "m.xml")
    assert resolve_artifact(model, (".xml", ".onnx"), "fp32") == model  # an IR without its weights is not one
    touch(tmp_path / "m.bin")
    assert resolve_artifact(model, (".xml", ".onnx"), "fp32") == tmp_path / "m.xml"
    assert resolve_artifact(model, (".safetensors",), "fp32") is None


def test_find_engine(tmp_path):
    model = touch(tmp_path / "m.onnx")
    assert find_engine(model) is None
    plan = touch(tmp_path / "other.plan")
    assert find_engine(plan) == plan and find_engine(tmp_path / "gone.plan") is None
    touch(artifact_path(tmp_path, "m", ".engine", "bf16"))
    assert find_engine(model) == tmp_path / "m.bf16.engine"
    touch(artifact_path(tmp_path, "m", ".engine"))
    assert find_engine(model) == tmp_path / "m.engine"  # fp32 before bf16
    assert find_engine(tmp_path / "m.int8.onnx", "int8") is None
