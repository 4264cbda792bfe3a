"""The engine sidecar (runtime/engine_sidecar.py): round trip, key, refusal messages, skip-rebuild."""

from __future__ import annotations

import json

import pytest

from msau.runtime.contract import CONTRACT_VERSION
from msau.runtime.engine_sidecar import (
    check_engine_compatible,
    engine_key,
    file_sha256,
    make_sidecar,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)

FIELDS = dict(
    onnx_sha256="ab" * 32,
    tensorrt_version="10.13.0.35",
    gpu_name="NVIDIA H100 80GB HBM3",
    compute_capability="9.0",
    precision="fp16",
    profile={"input": "input", "min": [1, 4, 256, 256], "opt": [8, 4, 256, 256], "max": [32, 4, 512, 512]},
    build_options={"workspace_mb": 4096, "hardware_compatibility_level": "none", "builder_optimization_level": None},
)
REBUILD = "msau-export --weights w.safetensors --out models --engine --fp16"


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "m.fp16.engine"
    path.write_bytes(b"not really a plan, but bytes all the same")
    return path


def _sidecar(engine, **changes):
    fields = {**FIELDS, **changes}
    return make_sidecar(engine, **fields, extra={"rebuild_command": REBUILD})


def test_round_trip(engine):
    written = write_sidecar(engine, _sidecar(engine))
    assert written == sidecar_path(engine) == engine.with_name("m.fp16.engine.json")
    sidecar = read_sidecar(engine)
    assert sidecar == json.loads(written.read_text())
    assert sidecar["engine_sha256"] == file_sha256(engine)
    assert sidecar["contract_version"] == CONTRACT_VERSION
    assert sidecar["profile"]["max"] == [32, 4, 512, 512]
    assert sidecar["key"] == engine_key(**FIELDS)
    assert sorted(p.name for p in engine.parent.iterdir()) == ["m.fp16.engine", "m.fp16.engine.json"]  # no temp file


def test_key_changes_with_every_field():
    base = engine_key(**FIELDS)
    assert engine_key(**FIELDS) == base
    changed = {
        "onnx_sha256": "cd" * 32,
        "tensorrt_version": "10.14.1.48",
        "gpu_name": "NVIDIA A100-SXM4-80GB",
        "compute_capability": "8.0",
        "precision": "fp32",
        "profile": {**FIELDS["profile"], "max": [16, 4, 512, 512]},
        "build_options": {**FIELDS["build_options"], "workspace_mb": 1024},
    }
    for name, value in changed.items():
        assert engine_key(**{**FIELDS, name: value}) != base, name


def test_compatible_engine_passes(engine):
    check_engine_compatible(_sidecar(engine), "10.13.0.35", "NVIDIA H100 80GB HBM3", "9.0")


def test_other_tensorrt_version_is_refused_with_the_rebuild_command(engine):
    with pytest.raises(ValueError) as error:
        check_engine_compatible(_sidecar(engine), "10.14.1.48", "NVIDIA H100 80GB HBM3", "9.0")
    message = str(error.value)
    assert message.startswith("m.fp16.engine: built with TensorRT 10.13.0.35 for NVIDIA H100 80GB HBM3")
    assert "this machine has TensorRT 10.14.1.48" in message
    assert message.endswith(f"rebuild it on this machine: {REBUILD}")


def test_other_gpu_is_refused(engine):
    with pytest.raises(ValueError, match="an engine runs only on the GPU model it was built on. rebuild it"):
        check_engine_compatible(_sidecar(engine), "10.13.0.35", "NVIDIA L4", "8.9")
    with pytest.raises(ValueError, match="NVIDIA H100 PCIe"):  # same compute capability, other model
        check_engine_compatible(_sidecar(engine), "10.13.0.35", "NVIDIA H100 PCIe", "9.0")


def test_hardware_compatibility_levels(engine):
    ampere = _sidecar(engine, build_options={**FIELDS["build_options"], "hardware_compatibility_level": "ampere_plus"})
    check_engine_compatible(ampere, "10.13.0.35", "NVIDIA A10", "8.6")
    with pytest.raises(ValueError, match=r"built for Ampere or newer GPUs \(compute capability 8.0\+\)"):
        check_engine_compatible(ampere, "10.13.0.35", "Tesla T4", "7.5")
    same_cc = _sidecar(engine, build_options={**FIELDS["build_options"], "hardware_compatibility_level": "same_compute_capability"})
    check_engine_compatible(same_cc, "10.13.0.35", "NVIDIA H100 PCIe", "9.0")
    with pytest.raises(ValueError, match="same compute capability"):
        check_engine_compatible(same_cc, "10.13.0.35", "NVIDIA L4", "8.9")


def test_other_contract_version_is_refused(engine):
    sidecar = {**_sidecar(engine), "contract_version": CONTRACT_VERSION + 1}
    with pytest.raises(ValueError, match=f"I/O contract version {CONTRACT_VERSION + 1}, this msau uses {CONTRACT_VERSION}"):
        check_engine_compatible(sidecar, "10.13.0.35", "NVIDIA H100 80GB HBM3", "9.0")


def test_missing_or_broken_sidecar_is_explained(engine):
    with pytest.raises(ValueError, match=r"m.fp16.engine.json: no sidecar beside the engine m.fp16.engine.*msau-export"):
        read_sidecar(engine)
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable engine sidecar"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"format": "msau-tensorrt-engine", "schema": 1}))
    with pytest.raises(ValueError, match="engine sidecar lacks contract_version, tensorrt_version"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({**_sidecar(engine), "schema": 99}))
    with pytest.raises(ValueError, match="sidecar schema 99 is newer than this msau reads"):
        read_sidecar(engine)


def test_same_key_skips_the_build_without_tensorrt(engine, tmp_path):
    """build_engine keeps an intact engine whose sidecar has the same key; no TensorRT is touched."""
    from msau.export.tensorrt_build import BuildOptions, ShapeProfile, TensorRTTarget, build_engine

    onnx_file = tmp_path / "m.fp16.onnx"
    onnx_file.write_bytes(b"graph bytes")
    profile = ShapeProfile((1, 8, 32), (256, 256, 512))
    options = BuildOptions()
    target = TensorRTTarget("10.13.0.35", "NVIDIA H100 80GB HBM3", "9.0")
    fields = dict(
        onnx_sha256=file_sha256(onnx_file), tensorrt_version=target.tensorrt_version, gpu_name=target.gpu_name,
        compute_capability=target.compute_capability, precision="fp16", profile=profile.as_dict(),
        build_options=options.as_dict(),
    )
    write_sidecar(engine, make_sidecar(engine, **fields))
    result = build_engine(onnx_file, engine, "fp16", profile, options, target=target)
    assert result.skipped
    assert result.sidecar["key"] == engine_key(**fields)
    # A changed engine file no longer matches its recorded sha256: the build is attempted.
    engine.write_bytes(b"truncated")
    from msau.export.tensorrt_build import EngineBuildError
    from msau.runtime.backends.base import MissingDependencyError

    with pytest.raises((MissingDependencyError, EngineBuildError)) as error:  # no TensorRT here / not a real graph
        build_engine(onnx_file, engine, "fp16", profile, options, target=target)
    if isinstance(error.value, MissingDependencyError):
        assert "pip install 'msau[tensorrt]'" in str(error.value)
    assert engine.read_bytes() == b"truncated"  # nothing was written over it


def test_profile_and_options_validation():
    from msau.export.tensorrt_build import BuildOptions, ShapeProfile

    assert ShapeProfile((1, 2, 4), (64, 128, 256)).shapes()["opt"] == [2, 4, 128, 128]
    with pytest.raises(ValueError, match="--batch must be MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX"):
        ShapeProfile((4, 2, 8), (256, 256, 256))
    with pytest.raises(ValueError, match="--size values must be multiples of 16"):
        ShapeProfile((1, 1, 1), (250, 256, 256))
    with pytest.raises(ValueError, match="hardware compatibility level must be one of"):
        BuildOptions(hardware_compatibility_level="turing_plus")
