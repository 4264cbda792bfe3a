"""Roofline figures: the model's work per image (GFLOPs, counted once) and this machine's measured matmul
peak per precision, so that achieved GFLOP/s of a backend can be read against what the hardware can do.

FLOPs are 2 x multiply-accumulates of convolutions, transposed convolutions and matrix products (the
bulk of MSAU-Net's work; activations, pooling and attention element-wise ops are not counted), the same
rule as msau.model.network.count_gflops. The peak is the best of repeated square matmuls (numpy float32, or
torch's if it is already loaded and faster; torch for bf16/fp16/int8 and on CUDA): a practical ceiling for dense
compute, not the datasheet figure. A reduced precision whose matmul runs slower than float32's has no peak: torch
has no fast kernel for it on that CPU (bf16 and int8 on AVX2), so its figure says nothing of the hardware. On a
busy machine both figures are noisy, and a backend can land above 100% of the peak when it caught quieter moments
than the matmul did (or has a better kernel than the BLAS).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from msau.benchmarks.schema import BatchEntry, ConfigResult
from msau.runtime.contract import MODEL_CONFIG_KEY

# Two sizes on the CPU: the smaller one fits the caches and, timed in short bursts, catches the moments when
# other work leaves the cores free; the larger one is the steadier figure on an idle machine. The best counts.
CPU_MATMUL_SIZES = (512, 1024)
GPU_MATMUL_SIZES = (8192,)
PEAK_SECONDS = 0.4


def onnx_gflops(path: str | Path, height: int, width: int, batch: int = 1) -> float:
    """GFLOPs per image of an ONNX graph at height x width: shapes fixed, then onnx shape inference.

    Conv: 2 x output elements x (C_in / groups) x kh x kw; ConvTranspose: 2 x input elements x
    (C_out / groups) x kh x kw; MatMul/Gemm: 2 x M x K x N. Needs the onnx package (the export extra).
    """
    import onnx  # the export extra; callers fall back to torch's count without it

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    initializer_names = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializer_names]
    for value in inputs[:1]:
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(dims, (batch, None, height, width)):
            if size is not None:
                dim.ClearField("dim_param")
                dim.dim_value = size
    # Stale intermediate shapes (symbolic or from the export size) would win over the fixed input.
    del graph.value_info[:]
    for value in graph.output:
        for dim in value.type.tensor_type.shape.dim:
            dim.Clear()
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    shapes = {init.name: tuple(init.dims) for init in inferred.graph.initializer}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    for node in inferred.graph.node:  # Constant nodes carry weights in some exports
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    shapes[node.output[0]] = tuple(attribute.t.dims)
    total = 0
    for node in inferred.graph.node:
        total += _node_flops(node, shapes)
    return total / batch / 1e9


def _shape(shapes: dict, name: str, node) -> tuple[int, ...]:
    if name not in shapes:
        raise ValueError(
            f"cannot count FLOPs: no static shape for {name!r} (input of {node.op_type} node {node.name!r})"
        )
    return shapes[name]


def _node_flops(node, shapes: dict) -> int:
    if node.op_type == "Conv":
        weight = _shape(shapes, node.input[1], node)  # (C_out, C_in / groups, kh, kw)
        output = _shape(shapes, node.output[0], node)
        return 2 * int(np.prod(output)) * int(np.prod(weight[1:]))
    if node.op_type == "ConvTranspose":
        weight = _shape(shapes, node.input[1], node)  # (C_in, C_out / groups, kh, kw)
        source = _shape(shapes, node.input[0], node)
        return 2 * int(np.prod(source)) * int(np.prod(weight[1:]))
    if node.op_type in ("MatMul", "Gemm"):
        a = _shape(shapes, node.input[0], node)
        output = _shape(shapes, node.output[0], node)
        inner = a[-2] if node.op_type == "Gemm" and _attribute(node, "transA", 0) else a[-1]
        return 2 * int(np.prod(output)) * int(inner)
    return 0


def _attribute(node, name: str, default: int) -> int:
    for attribute in node.attribute:
        if attribute.name == name:
            return int(attribute.i)
    return default


def config_from_onnx(path: Path) -> dict | None:
    """The msau model config recorded in an ONNX file's metadata by msau-export, via onnxruntime (no onnx)."""
    import json

    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        text = session.get_modelmeta().custom_metadata_map.get(MODEL_CONFIG_KEY)
    except Exception:  # an unreadable model just means no recorded config
        return None
    return json.loads(text) if text else None


def model_gflops(model: str | Path, height: int, width: int) -> tuple[float | None, str]:
    """(GFLOPs per image at height x width, how it was counted) for a model file and its siblings.

    Tried in turn: the ONNX graph (onnx package); msau.model.network.count_gflops (torch) on the config
    of the safetensors checkpoint or the ONNX metadata. (None, why) if neither is possible.
    """
    model = Path(model)
    from msau.runtime.artifacts import CHECKPOINT_SUFFIX, ONNX_SUFFIX, artifact_path, model_stem

    onnx_file = model if model.suffix.lower() == ONNX_SUFFIX else artifact_path(model.parent, model_stem(model), ONNX_SUFFIX)
    problems = []
    if onnx_file.is_file():
        try:
            return onnx_gflops(onnx_file, height, width), f"ONNX graph of {onnx_file.name} (conv/matmul MACs x 2)"
        except ImportError:
            problems.append("the onnx package is missing (pip install 'msau[export]')")
        except Exception as error:  # an odd graph: fall back to the torch count
            problems.append(f"counting the ONNX graph failed ({error})")
    try:
        from msau.model.config import ModelConfig
        from msau.model.network import count_gflops
    except ImportError:
        problems.append("torch is missing (pip install 'msau[train]')")
        return None, "not counted: " + "; ".join(problems)
    checkpoint = artifact_path(model.parent, model_stem(model), CHECKPOINT_SUFFIX)
    config = None
    if checkpoint.is_file():
        from msau.model.checkpoint import read_checkpoint_metadata

        config = read_checkpoint_metadata(checkpoint)[0]
        source = f"count_gflops on the config of {checkpoint.name}"
    elif onnx_file.is_file() and (recorded := config_from_onnx(onnx_file)) is not None:
        config = ModelConfig.from_dict(recorded)
        source = f"count_gflops on the config in {onnx_file.name}'s metadata"
    if config is None:
        problems.append("no checkpoint or recorded model config beside the model")
        return None, "not counted: " + "; ".join(problems)
    return count_gflops(config, height, width), source


def _best_rate(run: Callable[[], None], flops: float, seconds: float, clock: Callable[[], float]) -> float:
    """GFLOP/s of the fastest of repeated calls to run (after one warm-up call), for about `seconds`."""
    run()
    best = float("inf")
    start = clock()
    repeats = 0
    while repeats < 3 or clock() - start < seconds:
        t0 = clock()
        run()
        best = min(best, clock() - t0)
        repeats += 1
    return flops / best / 1e9


def numpy_matmul_peak(n: int = 1024, seconds: float = PEAK_SECONDS, clock=time.perf_counter) -> float:
    """Measured float32 GFLOP/s of numpy's (BLAS) n x n matmul on the CPU."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    return _best_rate(lambda: np.matmul(a, b, out=out), 2.0 * n**3, seconds, clock)


def torch_matmul_peak(
    precision: str, device: str = "cpu", n: int | None = None, seconds: float = PEAK_SECONDS, clock=time.perf_counter
) -> float:
    """Measured GFLOP/s of torch's n x n matmul in fp32 / fp16 / bf16 (int8: GOP/s of torch._int_mm, int8 x int8
    -> int32, the VNNI/AMX path an INT8 model runs on) on the CPU or a CUDA device (TF32 off for fp32, so that
    the fp32 peak is a true fp32 figure)."""
    import torch

    cuda = device.startswith("cuda")
    n = n or (GPU_MATMUL_SIZES[0] if cuda else CPU_MATMUL_SIZES[-1])
    if precision == "int8":
        a = torch.randint(-128, 128, (n, n), dtype=torch.int8, device=device)
        b = torch.randint(-128, 128, (n, n), dtype=torch.int8, device=device)
        matmul = torch._int_mm
    else:
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        matmul = torch.matmul
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False

        def run() -> None:
            matmul(a, b)
            torch.cuda.synchronize(device)
    else:

        def run() -> None:
            matmul(a, b)

    with torch.inference_mode():
        return _best_rate(run, 2.0 * n**3, seconds, clock)


def _sizes(sizes: tuple[int, ...]) -> str:
    return " and ".join(f"{n}^2" for n in sizes)


def _cpu_fp32_peak(seconds: float) -> tuple[float, str]:
    """(GFLOP/s, how) of numpy's float32 matmul, or torch's where it is loaded and faster."""
    gflops = max(numpy_matmul_peak(n, seconds) for n in CPU_MATMUL_SIZES)
    how = f"numpy float32 matmul, best of {_sizes(CPU_MATMUL_SIZES)}"
    if "torch" in sys.modules:  # oneDNN's sgemm can beat the BLAS numpy has; the better one is the ceiling
        torch_peak = max(torch_matmul_peak("fp32", "cpu", n, seconds) for n in CPU_MATMUL_SIZES)
        if torch_peak > gflops:
            gflops, how = torch_peak, f"torch fp32 matmul on the CPU (beat numpy's), best of {_sizes(CPU_MATMUL_SIZES)}"
    return gflops, how


def reduced_precision_ceiling(precision: str, gflops: float, fp32_gflops: float) -> tuple[float | None, str]:
    """(peak, how) for torch's CPU matmul in a reduced precision (bf16, fp16, int8) that ran at ``gflops``, where
    float32 runs at ``fp32_gflops``. Slower than float32, it is torch's fallback for a CPU without kernels for that
    precision (int8 on AVX2 ran at 2.5 GOP/s against float32's 150), not a ceiling: no peak then."""
    how = f"torch {precision} matmul on the CPU, best of {_sizes(CPU_MATMUL_SIZES)}"
    if gflops < fp32_gflops:
        return None, (
            f"not a ceiling: {how} ran at {gflops:.1f} GFLOP/s, below float32's {fp32_gflops:.1f} "
            f"(no fast {precision} kernel in torch for this CPU)"
        )
    return gflops, how


def measure_peaks(wanted: set[tuple[str, str]], seconds: float = PEAK_SECONDS) -> dict[str, dict]:
    """Peaks for the (place, precision) pairs asked for, place 'cpu' or 'gpu'; key 'cpu/fp32' etc.

    Each entry: gflops (the best over the matmul sizes; None if not measurable here) and how (what was
    measured, or why not).
    """
    peaks = {}
    # Measured once, for its own entry and as the bar for the reduced precisions.
    cpu_fp32_peak = functools.cache(lambda: _cpu_fp32_peak(seconds))
    for place, precision in sorted(wanted):
        key = f"{place}/{precision}"
        try:
            if place == "cpu" and precision == "fp32":
                gflops, how = cpu_fp32_peak()
            elif place == "cpu":
                gflops = max(torch_matmul_peak(precision, "cpu", n, seconds) for n in CPU_MATMUL_SIZES)
                gflops, how = reduced_precision_ceiling(precision, gflops, cpu_fp32_peak()[0])
            else:
                gflops = max(torch_matmul_peak(precision, "cuda", n, seconds) for n in GPU_MATMUL_SIZES)
                how = f"torch {precision} matmul on cuda, {_sizes(GPU_MATMUL_SIZES)} (TF32 off)"
            peaks[key] = {"gflops": gflops, "how": how}
        except ImportError:
            peaks[key] = {"gflops": None, "how": f"not measured: the {precision} peak needs torch (msau[train])"}
        except Exception as error:  # e.g. a torch without CUDA, or no bf16 kernel on this CPU
            peaks[key] = {"gflops": None, "how": f"not measured: {type(error).__name__}: {error}"}
    return peaks


def achieved_gflops(gflops_per_image: float | None, images_per_s: float | None) -> float | None:
    """Achieved GFLOP/s: work per image x images per second."""
    if gflops_per_image is None or images_per_s is None:
        return None
    return gflops_per_image * images_per_s


def fraction_of_peak(achieved: float | None, peak: float | None) -> float | None:
    """achieved / peak (0..1, above 1 if the backend beats the matmul measurement), None if either is missing."""
    if achieved is None or not peak:
        return None
    return achieved / peak


def peak_key(device_on_gpu: bool, precision: str) -> str:
    """The key of the peak a configuration is read against: 'cpu/fp32', 'gpu/fp16', ..."""
    return f"{'gpu' if device_on_gpu else 'cpu'}/{precision}"


def annotate(
    results: list[ConfigResult], gflops_by_size: dict[int, float | None], peaks: dict[str, dict]
) -> list[ConfigResult]:
    """The latency results with gflops_per_image, achieved_gflops_per_s, peak_key and fraction_of_peak set on
    every measured batch; results carry an on_gpu flag."""
    return [_annotated(result, gflops_by_size, peaks) for result in results]


def _annotated(result: ConfigResult, gflops_by_size: dict[int, float | None], peaks: dict[str, dict]) -> ConfigResult:
    key = peak_key(bool(result.on_gpu), result.precision)
    peak = (peaks.get(key) or {}).get("gflops")
    batches = []
    for entry in result.batches:
        if entry.status == "ok":
            per_image = gflops_by_size.get(entry.size)
            achieved = achieved_gflops(per_image, entry.images_per_s)
            # through JSON, so that the four keys are written even where they are null (not counted, no peak)
            annotation = {
                "gflops_per_image": per_image,
                "achieved_gflops_per_s": achieved,
                "peak_key": key,
                "fraction_of_peak": fraction_of_peak(achieved, peak),
            }
            entry = BatchEntry.from_json({**entry.to_json(), **annotation})
        batches.append(entry)
    return replace(result, batches=batches)
