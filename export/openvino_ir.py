"""Whether OpenVINO is better served by an IR (openvino.save_model) than by reading the ONNX file directly.

Measured, not assumed: for the ONNX file and two IRs (weights kept FP32, and compressed to FP16), each at the
CPU's f32 and bf16 inference precision: file size, read + compile time, latency (batch 1) and output PSNR
against ONNX Runtime's FP32 output. An IR is worth writing only if it is smaller or loads faster, without
being slower to run or less accurate.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msau.export.checks import FP16_MIN_OUTPUT_PSNR, output_psnr, run_onnx
from msau.export.samples import VerificationSet
from msau.runtime.backends.base import MissingDependencyError

SOURCES = ("onnx", "ir-fp32", "ir-fp16")
PRECISIONS = ("f32", "bf16")
# An IR has to win by a clear margin to be worth a second artifact; timing noise on a busy CPU is ~10%.
SMALLER = 0.8  # at most this fraction of the ONNX file's size
FASTER_LOAD = 0.8  # at most this fraction of the ONNX read + compile time
NOT_SLOWER = 1.15  # latency at most this multiple of the ONNX latency at the same precision


@dataclass(frozen=True)
class OpenVinoFigures:
    """One (source, inference precision) measurement."""

    source: str  # onnx | ir-fp32 | ir-fp16
    precision: str  # f32 | bf16
    size_mb: float
    load_seconds: float  # read_model + compile_model, median
    latency_ms: float  # batch 1 at the verification size, median
    output_psnr: float  # dB against ONNX Runtime FP32, over the verification set


@dataclass(frozen=True)
class OpenVinoDecision:
    figures: tuple[OpenVinoFigures, ...]
    chosen: str | None  # the IR source worth writing, or None (read the ONNX directly)
    reason: str

    def figure(self, source: str, precision: str) -> OpenVinoFigures:
        return _figure(self.figures, source, precision)


def _figure(figures: tuple[OpenVinoFigures, ...], source: str, precision: str) -> OpenVinoFigures:
    return next(f for f in figures if f.source == source and f.precision == precision)


def _openvino():
    try:
        import openvino
    except ImportError as error:
        raise MissingDependencyError(
            "OpenVINO IR export needs the 'openvino' package, a dependency of msau: pip install 'openvino>=2024.1'"
        ) from error
    return openvino


def _ir_size(xml: Path) -> int:
    return xml.stat().st_size + xml.with_suffix(".bin").stat().st_size


def save_ir(onnx_path: str | Path, xml_path: str | Path, compress_to_fp16: bool) -> Path:
    """Convert the ONNX file to an OpenVINO IR (.xml + .bin) at xml_path; both files appear atomically."""
    ov = _openvino()
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=xml_path.parent, prefix=".ir-") as tmp:
        staged = Path(tmp) / xml_path.name
        ov.save_model(ov.Core().read_model(str(onnx_path)), str(staged), compress_to_fp16=compress_to_fp16)
        # The .bin goes first: an .xml never points at a missing or half-written .bin.
        os.replace(staged.with_suffix(".bin"), xml_path.with_suffix(".bin"))
        os.replace(staged, xml_path)
    return xml_path


def _load(core, path: Path, precision: str):
    started = time.perf_counter()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": precision})
    return compiled, time.perf_counter() - started


def _outputs(compiled, x: np.ndarray) -> np.ndarray:
    request = compiled.create_infer_request()
    return np.concatenate([request.infer({0: x[i : i + 1]})[0].copy() for i in range(len(x))])


def measure_openvino(
    onnx_path: str | Path, data: VerificationSet, repeats: int = 20, load_repeats: int = 3, reference: np.ndarray | None = None
) -> tuple[OpenVinoFigures, ...]:
    """Figures for every (source, precision); IRs are made in a temporary folder and removed afterwards.

    Rounds interleave the sources so that background load affects them alike.
    """
    ov = _openvino()
    onnx_path = Path(onnx_path)
    reference = run_onnx(onnx_path, data.inputs) if reference is None else reference
    core = ov.Core()
    figures = []
    with tempfile.TemporaryDirectory(prefix="msau-openvino-") as tmp:
        paths = {
            "onnx": onnx_path,
            "ir-fp32": save_ir(onnx_path, Path(tmp) / "fp32" / "model.xml", compress_to_fp16=False),
            "ir-fp16": save_ir(onnx_path, Path(tmp) / "fp16" / "model.xml", compress_to_fp16=True),
        }
        sizes = {name: (p.stat().st_size if name == "onnx" else _ir_size(p)) / 1e6 for name, p in paths.items()}
        sample = data.inputs[:1]
        for precision in PRECISIONS:
            _load(core, onnx_path, precision)  # warm-up: the first compile in a process pays one-off costs
            loads: dict[str, list[float]] = {name: [] for name in paths}
            compiled = {}
            for _ in range(load_repeats):
                for name, path in paths.items():
                    compiled[name], seconds = _load(core, path, precision)
                    loads[name].append(seconds)
            requests = {name: c.create_infer_request() for name, c in compiled.items()}
            latencies: dict[str, list[float]] = {name: [] for name in paths}
            for name, request in requests.items():
                request.infer({0: sample})
            for _ in range(repeats):
                for name, request in requests.items():
                    started = time.perf_counter()
                    request.infer({0: sample})
                    latencies[name].append(time.perf_counter() - started)
            for name in paths:
                figures.append(
                    OpenVinoFigures(
                        source=name,
                        precision=precision,
                        size_mb=sizes[name],
                        load_seconds=statistics.median(loads[name]),
                        latency_ms=1000 * statistics.median(latencies[name]),
                        output_psnr=output_psnr(reference, _outputs(compiled[name], data.inputs)),
                    )
                )
    return tuple(figures)


def decide(figures: tuple[OpenVinoFigures, ...], min_psnr: float = FP16_MIN_OUTPUT_PSNR) -> OpenVinoDecision:
    """Pick the IR worth writing: smaller (<= SMALLER x) or faster to load (<= FASTER_LOAD x) than the ONNX at
    both precisions, never slower to run (<= NOT_SLOWER x) nor less accurate at f32 (PSNR >= min_psnr);
    the smallest such IR wins. None if no IR qualifies."""
    def get(source: str, precision: str) -> OpenVinoFigures:
        return _figure(figures, source, precision)

    candidates, rejected = [], []
    for source in ("ir-fp16", "ir-fp32"):
        gains, losses = [], []
        for precision in PRECISIONS:
            ir, onnx = get(source, precision), get("onnx", precision)
            if ir.latency_ms > NOT_SLOWER * onnx.latency_ms:
                losses.append(f"{precision} latency {ir.latency_ms:.1f} ms vs {onnx.latency_ms:.1f} ms from ONNX")
        if get(source, "f32").output_psnr < min_psnr:
            losses.append(f"f32 output PSNR {get(source, 'f32').output_psnr:.1f} dB < {min_psnr:g}")
        if get(source, "f32").size_mb <= SMALLER * get("onnx", "f32").size_mb:
            gains.append(f"{get(source, 'f32').size_mb:.1f} MB vs {get('onnx', 'f32').size_mb:.1f} MB")
        if all(get(source, p).load_seconds <= FASTER_LOAD * get("onnx", p).load_seconds for p in PRECISIONS):
            loads = ", ".join(f"{p} {get(source, p).load_seconds:.2f} s vs {get('onnx', p).load_seconds:.2f} s" for p in PRECISIONS)
            gains.append(f"loads faster ({loads})")
        if gains and not losses:
            candidates.append((get(source, "f32").size_mb, source, "; ".join(gains)))
        else:
            rejected.append(f"{source}: " + ("; ".join(losses) if losses else "neither smaller nor faster to load"))
    if not candidates:
        return OpenVinoDecision(figures, None, "read the ONNX directly (" + " | ".join(rejected) + ")")
    _, source, gains = min(candidates)
    return OpenVinoDecision(figures, source, f"write {source}: {gains}")
