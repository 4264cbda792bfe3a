"""auto's CPU rule on CPUs this machine is not: capabilities injected as /proc/cpuinfo and OpenVINO report them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from msau.runtime.backends import auto, onednn_isa

# What OpenVINO's CPU plugin reports as OPTIMIZATION_CAPABILITIES on each kind of CPU (BF16 only where native).
OV_PLAIN = frozenset({"FP32", "FP16", "INT8", "BIN", "EXPORT_IMPORT"})
OV_BF16 = OV_PLAIN | {"BF16"}
AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl"}
CPUS = {
    # name: (flags, OpenVINO's report, what auto runs without an INT8 model, with one): bf16 first where native
    # (on AMX the INT8 model ran slower than bf16), int8 from AVX2 up (faster than fp32 at every ISA measured)
    "SSE4.2 only (Atom, Westmere)": (frozenset({"sse4_2"}), OV_PLAIN, "fp32", "fp32"),
    "AVX2 only (AMD EPYC Zen 2)": (AVX2, OV_PLAIN, "fp32", "int8"),
    "AVX-512 without VNNI or BF16 (Skylake-SP)": (AVX512, OV_PLAIN, "fp32", "int8"),
    "AVX-512 with VNNI (Cascade Lake)": (AVX512 | {"avx512_vnni"}, OV_PLAIN, "fp32", "int8"),
    "AVX-512 with BF16 and VNNI (Zen 4, Cooper Lake)": (
        AVX512 | {"avx512_vnni", "avx512_bf16"}, OV_BF16, "bf16", "bf16"),
    "AMX (Sapphire Rapids)": (
        AVX512 | {"avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}, OV_BF16, "bf16", "bf16"),
}


@pytest.mark.parametrize("name", list(CPUS))
def test_cpu_plan_by_capabilities(name: str) -> None:
    flags, reported, plain, with_int8 = CPUS[name]
    capabilities = auto.CpuCapabilities(flags, reported)
    plan = auto.cpu_plan(capabilities)
    assert (plan.backend, plan.precision) == ("openvino", plain)
    assert plan.reason
    assert auto.cpu_plan(capabilities, int8_model=True).precision == with_int8


def test_without_openvino_onnxruntime_fp32() -> None:
    plan = auto.cpu_plan(auto.CpuCapabilities(AVX512 | {"amx_bf16"}, None), int8_model=True)
    assert (plan.backend, plan.precision) == ("onnxruntime", "fp32")


def test_openvino_report_wins_over_flags_and_flags_decide_when_it_is_silent() -> None:
    # A CPU flag OpenVINO does not use natively (e.g. a plugin without its bf16 kernels): trust OpenVINO.
    assert not auto.CpuCapabilities(AVX512 | {"avx512_bf16"}, OV_PLAIN).bf16
    assert auto.CpuCapabilities(AVX512 | {"avx512_bf16"}, frozenset()).bf16
    assert not auto.CpuCapabilities(AVX512 | {"avx512_vnni"}, frozenset({"FP32"})).fast_int8


def test_choose_takes_the_int8_model_where_it_ships(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for probe in ("tensorrt_available", "onnxruntime_cuda_available", "torch_cuda_available"):
        monkeypatch.setattr(auto, probe, lambda: False)
    flags, reported, _, _ = CPUS["AVX-512 with VNNI (Cascade Lake)"]
    monkeypatch.setattr(auto, "cpu_capabilities", lambda: auto.CpuCapabilities(flags, reported))
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    assert auto.choose(model) == auto.Choice("openvino", model, "fp32", "CPU")
    (tmp_path / "m.int8.onnx").write_bytes(b"")
    assert auto.choose(model) == auto.Choice("openvino", model, "int8", "CPU")


def test_this_machine_is_read_without_error() -> None:
    capabilities = auto.cpu_capabilities()
    assert isinstance(capabilities.flags, frozenset)
    assert auto.cpu_plan(capabilities).backend in ("openvino", "onnxruntime")


def test_cpuinfo_is_parsed_per_processor(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu avx2\n\nprocessor : 1\nflags : fpu avx2\n")
    processors = auto.cpuinfo_processors(cpuinfo)
    assert [p["processor"] for p in processors] == ["0", "1"] and processors[0]["flags"] == "fpu avx2"
    assert auto.cpuinfo_processors(tmp_path / "missing") == []


BF16_CPU = (AVX512 | {"avx512_vnni", "avx512_bf16"}, OV_BF16)  # Zen 4: what OpenVINO reports even under a cap


@pytest.mark.parametrize(
    ("cap", "precision"),
    [(None, "bf16"), ("AVX512_CORE_AMX", "bf16"), ("AVX512_CORE_BF16", "bf16"), ("AVX512_CORE_VNNI", "int8"),
     ("AVX2", "int8"), ("AVX", "fp32"), ("SSE41", "fp32")],
)
def test_the_onednn_isa_cap_rules_out_what_it_caps(cap: str | None, precision: str) -> None:
    """Under ONEDNN_MAX_CPU_ISA=AVX2 on an AVX512-BF16 CPU OpenVINO still reports BF16, but cannot compile it."""
    plan = auto.cpu_plan(auto.CpuCapabilities(*BF16_CPU, isa_cap=cap), int8_model=True)
    assert (plan.backend, plan.precision) == ("openvino", precision)
    assert (f"within ONEDNN_MAX_CPU_ISA={cap}" in plan.reason) == (cap is not None)


@pytest.mark.parametrize(
    ("environ", "cap"),
    [({}, None), ({"ONEDNN_MAX_CPU_ISA": "avx2"}, "AVX2"), ({"DNNL_MAX_CPU_ISA": "AVX512_CORE"}, "AVX512_CORE"),
     ({"ONEDNN_MAX_CPU_ISA": "ALL"}, None), ({"ONEDNN_MAX_CPU_ISA": "AVX9000"}, None),
     ({"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "SSE41"}, "AVX2")],
)
def test_the_cap_is_read_as_onednn_reads_it(environ: dict[str, str], cap: str | None) -> None:
    assert onednn_isa.onednn_isa_cap(environ) == cap


def test_the_openvino_backend_refuses_bf16_under_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openvino")
    from msau.runtime.backends.base import BackendError, open_backend
    from msau.runtime.backends.openvino import bf16_supported
    from msau.runtime.models import shipped_model

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not bf16_supported()
    expected = "this CPU has no native bf16 (ONEDNN_MAX_CPU_ISA=AVX2 caps it below AVX512_CORE_BF16); use precision fp32 or int8"
    with pytest.raises(BackendError, match=re.escape(expected)):
        open_backend("openvino", shipped_model(), "bf16")
