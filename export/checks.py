"""Verification of exported graphs: the ONNX checker, the I/O contract, parity with PyTorch and the FP16 gate,
all run on ONNX Runtime's CPU provider (what every machine has)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from msau.export.samples import VerificationSet, image_psnr
from msau.runtime.contract import INPUT_CHANNELS, INPUT_NAME, OUTPUT_CHANNELS, OUTPUT_NAME

# On the output scale (ab / 110): 5e-4 is 0.055 CIE a*b* units, far below a visible difference, while an export
# that gets an op wrong errs by 1e-2 and more. Two correct fp32 implementations differ by up to about 1e-4 on the
# shipped networks (four example photos: PyTorch's oneDNN against its own native convolutions 4.9e-5 and 8.0e-5,
# ONNX Runtime optimized against unoptimized 3.8e-5 and 7.3e-5, PyTorch against ONNX Runtime 8.3e-5 and 1.1e-4
# for the models of 2026-12-02), so the former limit of 1e-4 sat inside that noise.
PARITY_MAX_ABS_ERROR = 5e-4
FP16_MIN_OUTPUT_PSNR = 45.0  # dB over the FP32 output's range
FP16_MAX_IMAGE_PSNR_DELTA = 0.05  # dB, end-to-end image PSNR against ground truth, FP16 vs FP32
RUN_CHUNK = 4  # images per ONNX Runtime call: bounds memory for big verification sets


class VerificationError(ValueError):
    """An artifact failed a check; the message names the file, the figures and the thresholds."""


def check_onnx(path: str | Path) -> None:
    """onnx.checker with full_check (shape inference included); VerificationError naming the file."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise VerificationError(f"{path}: the ONNX checker rejects the graph: {error}") from error


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def check_contract(model: onnx.ModelProto, source: str) -> None:
    """Input ``input`` float32 (N, 4, H, W) and output ``ab`` float32 (N, 2, H, W), N/H/W symbolic."""
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    problems = []
    for values, name, channels in ((inputs, INPUT_NAME, INPUT_CHANNELS), (list(graph.output), OUTPUT_NAME, OUTPUT_CHANNELS)):
        if len(values) != 1 or values[0].name != name:
            problems.append(f"expected one tensor {name!r}, found {[v.name for v in values]}")
            continue
        elem = values[0].type.tensor_type.elem_type
        if elem != onnx.TensorProto.FLOAT:
            problems.append(f"{name!r} is {onnx.TensorProto.DataType.Name(elem)}, the contract says FLOAT")
        dims = _dims(values[0])
        if len(dims) != 4 or dims[1] != channels or not all(isinstance(dims[a], str) and dims[a] for a in (0, 2, 3)):
            problems.append(f"{name!r} has shape {dims}, expected (N, {channels}, H, W) with N, H, W dynamic")
    if problems:
        raise VerificationError(f"{source}: does not follow the I/O contract: " + "; ".join(problems))


def cpu_session(model: str | Path | bytes, threads: int | None = None, optimize: bool = True):
    """An ONNX Runtime CPU InferenceSession: all graph optimisations (as serving uses) or none."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_onnx(model: str | Path | bytes, x: np.ndarray, threads: int | None = None, optimize: bool = True) -> np.ndarray:
    """ab (N, 2, H, W) float32 of contract inputs x (N, 4, H, W) on ONNX Runtime CPU, in small chunks."""
    session = cpu_session(model, threads, optimize)
    outputs = [session.run([OUTPUT_NAME], {INPUT_NAME: x[i : i + RUN_CHUNK]})[0] for i in range(0, len(x), RUN_CHUNK)]
    return np.concatenate(outputs).astype(np.float32, copy=False)


def run_torch(model, x: np.ndarray) -> np.ndarray:
    """ab (N, 2, H, W) float32 of the PyTorch model (eval mode, no grad) on x, in small chunks."""
    import torch

    model = model.eval()
    with torch.no_grad():
        outputs = [model(torch.from_numpy(x[i : i + RUN_CHUNK])).numpy() for i in range(0, len(x), RUN_CHUNK)]
    return np.concatenate(outputs).astype(np.float32, copy=False)


def output_psnr(reference: np.ndarray, result: np.ndarray) -> float:
    """PSNR (dB) of result against reference, the peak being the reference's value range; inf if equal."""
    value_range = float(reference.max() - reference.min())
    mse = float(np.mean((reference.astype(np.float64) - result.astype(np.float64)) ** 2))
    if mse == 0:
        return float("inf")
    if not np.isfinite(mse):
        return float("-inf")
    return 10.0 * float(np.log10(max(value_range, 1e-12) ** 2 / mse))


@dataclass(frozen=True)
class ParityReport:
    """ONNX Runtime CPU vs PyTorch on the verification set."""

    max_abs_error: float
    threshold: float
    images: int

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_abs_error)) and self.max_abs_error <= self.threshold

    def summary(self) -> str:
        return f"max |ONNX - PyTorch| = {self.max_abs_error:.2e} (limit {self.threshold:.0e}) on {self.images} images"


def torch_parity(model, onnx_model: str | Path | bytes, data: VerificationSet, threshold: float = PARITY_MAX_ABS_ERROR) -> ParityReport:
    """Max abs error between the PyTorch model and its ONNX export on ONNX Runtime CPU."""
    expected = run_torch(model, data.inputs)
    actual = run_onnx(onnx_model, data.inputs)
    error = float(np.max(np.abs(expected.astype(np.float64) - actual))) if np.all(np.isfinite(actual)) else float("inf")
    return ParityReport(error, threshold, len(data))


@dataclass(frozen=True)
class Fp16Report:
    """FP16 ONNX vs FP32 ONNX on ONNX Runtime CPU, on the verification set.

    The gated figures come from FP16-storage emulation (every FP16 tensor rounded where it is made, see
    fp16_emulation); native_output_psnr is ONNX Runtime running the FP16 file as it is, which on x86 keeps
    most intermediates in FP32 and so flatters the graph.
    """

    output_psnr: float  # dB of the FP16 output against the FP32 output, over the FP32 output's range
    max_abs_error: float  # on the output scale
    image_psnr_fp32: float  # end-to-end, against the ground-truth photos
    image_psnr_fp16: float
    native_output_psnr: float  # the FP16 file on ONNX Runtime CPU as it is
    min_output_psnr: float
    max_image_psnr_delta: float
    images: int

    @property
    def image_psnr_delta(self) -> float:
        return self.image_psnr_fp16 - self.image_psnr_fp32

    @property
    def passed(self) -> bool:
        return self.output_psnr >= self.min_output_psnr and abs(self.image_psnr_delta) <= self.max_image_psnr_delta

    def summary(self) -> str:
        return (
            f"output PSNR {self.output_psnr:.1f} dB vs FP32 (min {self.min_output_psnr:g}), "
            f"image PSNR {self.image_psnr_fp16:.3f} dB vs {self.image_psnr_fp32:.3f} dB FP32 "
            f"(delta {self.image_psnr_delta:+.3f}, limit +-{self.max_image_psnr_delta:g}), "
            f"max abs error {self.max_abs_error:.2e}, {self.images} images "
            f"(FP16 storage emulated; ONNX Runtime's own FP16 run: {self.native_output_psnr:.1f} dB)"
        )


def _model_proto(model: str | Path | bytes | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    return onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))


def fp16_gate(
    fp32_model: str | Path | bytes,
    fp16_model: str | Path | bytes | onnx.ModelProto,
    data: VerificationSet,
    min_output_psnr: float = FP16_MIN_OUTPUT_PSNR,
    max_image_psnr_delta: float = FP16_MAX_IMAGE_PSNR_DELTA,
) -> Fp16Report:
    """Compare the FP16 graph with the FP32 graph: output PSNR and end-to-end image PSNR against ground truth."""
    from msau.export.fp16_emulation import emulate_fp16_storage

    fp16_proto = _model_proto(fp16_model)
    reference = run_onnx(fp32_model, data.inputs)
    native = run_onnx(fp16_proto.SerializeToString(), data.inputs)
    result = run_onnx(emulate_fp16_storage(fp16_proto).SerializeToString(), data.inputs, optimize=False)
    finite = bool(np.all(np.isfinite(result)))
    error = float(np.max(np.abs(reference.astype(np.float64) - result))) if finite else float("inf")
    return Fp16Report(
        output_psnr=output_psnr(reference, result) if finite else float("-inf"),
        max_abs_error=error,
        image_psnr_fp32=image_psnr(reference, data),
        image_psnr_fp16=image_psnr(np.nan_to_num(result, nan=0.0, posinf=1.0, neginf=-1.0), data),
        native_output_psnr=output_psnr(reference, native) if np.all(np.isfinite(native)) else float("-inf"),
        min_output_psnr=min_output_psnr,
        max_image_psnr_delta=max_image_psnr_delta,
        images=len(data),
    )
