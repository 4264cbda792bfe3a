"""FP32 ONNX -> INT8 ONNX after training: ONNX Runtime's static quantization (QDQ, per-channel weights), calibrated
on photos with hints sampled from them, and gated on the image PSNR users are served, against the FP32 graph.

The QDQ file is the one INT8 artifact for both CPU backends: ONNX Runtime fuses it into QLinearConv kernels, and
OpenVINO's CPU plugin reads the QuantizeLinear/DequantizeLinear pairs as its own FakeQuantize and runs INT8
(u8 activations, i8 weights: VNNI/AMX where the CPU has them, VPMADDUBSW on AVX2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from msau.export.checks import RUN_CHUNK, output_psnr, run_onnx
from msau.export.samples import HINT_RATIO, VerificationSet, image_psnr, load_photos, verification_set
from msau.runtime.contract import INPUT_NAME
from msau.runtime.hints import sample_clicks

INT8_MAX_SERVED_PSNR_DELTA = 0.15  # dB, image PSNR as served (hint correction and propagation), INT8 vs FP32
# dB, the INT8 network output against the FP32 one. The served images alone can miss a broken graph: the shipped
# network is trained to feed the finish, which mends much of what clipped ranges do (ranges from dark, hintless
# photos: 16-19 dB output, yet within 0.15 dB as served on generated photos). Calibrated as msau-export does,
# the shipped model scores 40 dB.
INT8_MIN_OUTPUT_PSNR = 30.0
# The HistogramCalibrater behind "percentile" holds every activation of every calibration image in memory
# (about 100 MB per 256² image for msau-tiny; each photo is calibrated on twice: 4.8 GB at the peak), so the
# default count is small.
CALIBRATION_PHOTOS = 16
# Calibration hints are drawn with other seeds than verification's (samples.HINT_SEED = 0), so that calibrating
# and checking on one folder still do not see the same inputs.
CALIBRATION_SEED = 1000
CALIBRATION_METHODS = {"percentile": "Percentile", "minmax": "MinMax"}  # ours -> onnxruntime's CalibrationMethod
# Activation ranges are clipped at this percentile of each tensor's calibration values. Single-pixel hints make
# spikes 5-10x a tensor's 99.99th percentile; a range stretched to them leaves a u8 step that erases the small
# values. At the former 99.999 the model trained on 1,073 photos needed its first encoder and all three upper
# decoders in float (with only the first encoder, the last decoder and the head in float it lost 0.37-0.80 dB
# as served); at 99.9 those two decoders quantize too: +0.014 dB in the export's gate (16 val photos), and on all
# 105 val photos (three seeds) as served -0.02 / 0.00 / 0.00 dB at 0.1 / 0.5 / 1 % and -0.04 / -0.03 dB with
# 10 / 50 clicks, 16-31 % faster on OpenVINO (benchmarks/results/2026-12-02-int8-percentile.md). The clipped
# spikes are at the hints, where the propagation pins the colours anyway; the network alone loses more (up to
# -0.44 dB).
CALIBRATION_PERCENTILE = 99.9
# Nodes whose names hold one of these stay in float (names are the exported graph's module paths, model/network.py):
# the full-resolution level. Quantized too (at 99.9), the first encoder and the last decoder made OpenVINO 8-13 %
# faster again on the AVX2 path (27-35 % natively) but lost up to 0.14 dB as served with 10 clicks and 1 dB for
# the network alone.
DEFAULT_FLOAT_SCOPES: tuple[str, ...] = ("/encoders.0/", "/decoders.3/", "/head/")
DEFAULT_FLOAT_OPS: tuple[str, ...] = ()


class MissingQuantizerError(ImportError):
    """onnxruntime.quantization (with onnx) is not importable; the message names the extra to install."""


class QuantizationError(ValueError):
    """The quantizer could not calibrate or rewrite the graph; the message names the file and the cause."""


@dataclass(frozen=True)
class Int8Report:
    """What quantize_int8 did and how the INT8 graph compares with the FP32 one on the check set."""

    path: Path  # the INT8 file; written only if the gate passed (or write_failed was asked)
    written: bool
    image_psnr_fp32: float  # dB, as served, mean over the check photos
    image_psnr_int8: float
    output_psnr: float  # dB of the INT8 network output against the FP32 one, over the FP32 output's range
    max_image_psnr_delta: float
    min_output_psnr: float
    quantized_nodes: int  # nodes computing on INT8 inputs (QDQ pairs around them)
    float_nodes: tuple[str, ...]  # names of the nodes kept in float
    method: str  # calibration method
    calibration: str  # where the calibration inputs came from
    check: str  # where the check inputs came from
    check_images: int

    @property
    def image_psnr_delta(self) -> float:
        return self.image_psnr_int8 - self.image_psnr_fp32

    @property
    def passed(self) -> bool:
        return (
            bool(np.isfinite(self.image_psnr_int8))
            and abs(self.image_psnr_delta) <= self.max_image_psnr_delta
            and self.output_psnr >= self.min_output_psnr
        )

    def summary(self) -> str:
        kept = f"{len(self.float_nodes)} kept in float" if self.float_nodes else "none kept in float"
        return (
            f"image PSNR as served {self.image_psnr_int8:.3f} dB vs {self.image_psnr_fp32:.3f} dB FP32 "
            f"(delta {self.image_psnr_delta:+.3f}, limit +-{self.max_image_psnr_delta:g}), output PSNR "
            f"{self.output_psnr:.1f} dB vs FP32 (min {self.min_output_psnr:g}), on {self.check_images} images ({self.check}); "
            f"{self.quantized_nodes} nodes quantized, {kept}; {self.method} calibration on {self.calibration}"
        )


def calibration_set(
    folder: str | Path, size: int = 256, count: int = CALIBRATION_PHOTOS, ratio: float = HINT_RATIO
) -> VerificationSet:
    """Inputs to calibrate on: the first count photos of folder at size x size, each twice, with single-pixel hints
    sampled at ratio and with 1-50 user-like clicks (patches of radius 0-4), so that the recorded ranges cover both
    kinds of hints users give. Calibrated on single-pixel hints alone, the model of 2026-12-02 (the soup) lost
    0.26 dB as served with 10 clicks on val (seed 0) against FP32; with clicks too, 0.10.

    Never calibrate on the photos a quality figure is reported on: the ranges would be fitted to them.
    """
    photos = load_photos(folder, limit=count)
    pixels = verification_set(photos, size, "pixels", ratio, CALIBRATION_SEED)
    clicks = np.random.default_rng(CALIBRATION_SEED).integers(1, 51, len(photos))  # per photo
    clicked = verification_set(
        photos, size, "clicks", seed=CALIBRATION_SEED,
        draw=lambda photo, seed: sample_clicks(photo, int(clicks[seed - CALIBRATION_SEED]), seed),  # seed - base: its index
    )
    return VerificationSet(
        np.concatenate([pixels.inputs, clicked.inputs]),  # (2 count, 4, size, size)
        pixels.lightness + clicked.lightness,
        pixels.references + clicked.references,
        f"{len(photos)} photos from {folder}, with single-pixel hints and with clicks",
    )


def _import_quantization():
    try:
        from onnxruntime import quantization
    except ImportError as error:
        raise MissingQuantizerError(
            f"INT8 quantization needs onnxruntime.quantization and onnx ({error}): pip install 'msau[export]'"
        ) from error
    return quantization


def _reader(quantization, inputs: np.ndarray):
    """A CalibrationDataReader handing inputs (N, 4, H, W) to the calibrator in batches of RUN_CHUNK images, the
    last one filled up from the start: the histogram calibrators stack the batches, so all must have one shape,
    and a batch of one image would give one-value tensors (the attention's hidden units) a histogram of width 0."""
    size = min(RUN_CHUNK, len(inputs))

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self._starts: Iterator[int] = iter(range(0, len(inputs), size))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self._starts, None)
            if start is None:
                return None
            return {INPUT_NAME: inputs.take(range(start, start + size), axis=0, mode="wrap")}

    return Reader()


def float_nodes_of(model: onnx.ModelProto, op_types: Sequence[str], scopes: Sequence[str]) -> tuple[str, ...]:
    """Names of the nodes to keep in float: those of op_types and those whose name contains one of scopes."""
    wanted_ops = set(op_types)
    return tuple(n.name for n in model.graph.node if n.op_type in wanted_ops or any(s in n.name for s in scopes))


def quantized_node_count(model: onnx.ModelProto) -> int:
    """Nodes (other than the Q/DQ pairs) that read a DequantizeLinear output: those running on INT8 data."""
    dequantized = {out for n in model.graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    skip = {"QuantizeLinear", "DequantizeLinear"}
    return sum(n.op_type not in skip and bool(dequantized.intersection(n.input)) for n in model.graph.node)


@contextlib.contextmanager
def _as_quantization_error(onnx_path: str | Path, method: str) -> Iterator[None]:
    try:
        yield
    except ValueError as error:
        # e.g. "Too many bins for data range": the histogram calibrators bin each tensor in float32, and a tensor
        # that barely varies over the calibration set (a hidden unit of the channel attention) has no room for
        # 2,048 bins. Every tensor of a quantizable op type is calibrated, kept in float or not.
        raise QuantizationError(f"{onnx_path}: {method} calibration failed: {error}") from error


def quantize_graph(
    onnx_path: str | Path,
    out_path: str | Path,
    calibration: VerificationSet,
    float_nodes: Sequence[str] = (),
    method: str = "percentile",
) -> None:
    """Write the QDQ INT8 graph of onnx_path to out_path (not atomic, not gated: quantize_int8 is the API).

    u8 activations (asymmetric) and i8 weights per output channel: the combination both CPU backends run as
    native INT8. "percentile" clips each activation's range at its CALIBRATION_PERCENTILE (the spikes at hints
    would otherwise stretch the u8 step); "minmax" keeps whole ranges.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of {', '.join(CALIBRATION_METHODS)}")
    quantization = _import_quantization()
    quiet = contextlib.ExitStack()
    # The quantizer logs advice on the root logger and its histogram calibrators print progress; library code
    # stays quiet.
    quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
    root = logging.getLogger()
    quiet.callback(root.setLevel, root.level)
    root.setLevel(logging.ERROR)
    with quiet, _as_quantization_error(onnx_path, method):
        quantization.quantize_static(
            str(onnx_path),
            str(out_path),
            _reader(quantization, calibration.inputs),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=getattr(quantization.CalibrationMethod, CALIBRATION_METHODS[method]),
            nodes_to_exclude=list(float_nodes),
            extra_options={"CalibPercentile": CALIBRATION_PERCENTILE} if method == "percentile" else {},
        )


def quantize_int8(
    onnx_path: str | Path,
    out_path: str | Path,
    calibration: VerificationSet,
    check: VerificationSet,
    float_scopes: Sequence[str] = DEFAULT_FLOAT_SCOPES,
    float_ops: Sequence[str] = DEFAULT_FLOAT_OPS,
    method: str = "percentile",
    max_image_psnr_delta: float = INT8_MAX_SERVED_PSNR_DELTA,
    min_output_psnr: float = INT8_MIN_OUTPUT_PSNR,
    write_failed: bool = False,
) -> Int8Report:
    """Quantize the FP32 ONNX at onnx_path to INT8, gate it, and write it to out_path only if it passes.

    calibration: inputs whose activation ranges are recorded (calibration_set); check: photos with hints on which
    the INT8 and FP32 graphs are both run on ONNX Runtime's CPU provider and served (hint correction, propagation,
    decode); the gate is |image PSNR INT8 - FP32| <= max_image_psnr_delta and the INT8 network output's PSNR
    against the FP32 one >= min_output_psnr. Nodes whose names contain one of
    float_scopes, and nodes of float_ops, stay in float; method is the calibration (CALIBRATION_METHODS; where
    percentile cannot bin some tensor, minmax is used and the report says so). QuantizationError if none works.
    write_failed writes the file even when the gate fails (the report says so).
    The file is written atomically; its metadata says precision int8.
    """
    from msau.export.onnx_export import PRECISION_KEY, save_onnx, set_metadata

    out_path = Path(out_path)
    fp32_model = onnx.load(str(onnx_path))
    kept = float_nodes_of(fp32_model, float_ops, float_scopes)
    with tempfile.TemporaryDirectory(prefix="msau-int8-") as staging:
        staged = Path(staging) / out_path.name
        used = method
        try:
            quantize_graph(onnx_path, staged, calibration, kept, method)
        except QuantizationError as error:
            if method != "percentile":
                raise
            # Some graphs hold a tensor the histogram cannot bin; MinMax always works, and the gate still judges.
            quantize_graph(onnx_path, staged, calibration, kept, "minmax")
            used = f"minmax (percentile failed: {error.__cause__})"
        int8_model = onnx.load(str(staged))
    set_metadata(int8_model, {PRECISION_KEY: "int8"})
    serialized = int8_model.SerializeToString()
    reference = run_onnx(onnx_path, check.inputs)  # (N, 2, H, W)
    result = run_onnx(serialized, check.inputs)
    finite = bool(np.all(np.isfinite(result)))
    report = Int8Report(
        path=out_path,
        written=False,
        image_psnr_fp32=image_psnr(reference, check, served=True),
        image_psnr_int8=image_psnr(result, check, served=True) if finite else float("-inf"),
        output_psnr=output_psnr(reference, result) if finite else float("-inf"),
        max_image_psnr_delta=max_image_psnr_delta,
        min_output_psnr=min_output_psnr,
        quantized_nodes=quantized_node_count(int8_model),
        float_nodes=kept,
        method=used,
        calibration=calibration.source,
        check=check.source,
        check_images=len(check),
    )
    if not (report.passed or write_failed):
        return report
    save_onnx(int8_model, out_path)
    return dataclasses.replace(report, written=True)
