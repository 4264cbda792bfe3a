"""OpenVINO on the CPU: fp32, or bf16 inference precision where the CPU has it (AVX512-BF16 or AMX).

The ONNX file or OpenVINO IR ``.xml`` it is given is read once (the Colorizer and msau-bench give the IR where
msau-export wrote one beside the ONNX: msau.runtime.artifacts); a compiled model is made per input shape the first
time that shape is seen and kept (a few shapes, least recently used dropped), because static shapes run
faster on the CPU plugin than dynamic ones and a batch run sees one or two shapes in all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from msau.runtime.artifacts import IR_SUFFIX, ONNX_SUFFIX
from msau.runtime.backends.base import Backend, BackendError, MissingDependencyError, check_contract, load_error
from msau.runtime.backends.onednn_isa import BF16_ISA, cap_allows, onednn_isa_cap
from msau.runtime.contract import CONTRACT_VERSION_KEY, INPUT_NAME, OUTPUT_NAME, check_contract_version

# The CPU plugin's names for our precisions (INFERENCE_PRECISION_HINT).
# int8: a QDQ graph (msau-export --int8); its quantized layers run INT8 whatever the hint, and the layers it keeps
# in float run f32, as its gate measured them.
OV_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")
DEFAULT_CACHED_SHAPES = 4


def import_openvino():
    """The openvino module, or MissingDependencyError saying how to get it back (it is a base dependency)."""
    try:
        import openvino
    except ImportError as error:
        raise MissingDependencyError(
            "the openvino backend needs the 'openvino' package, part of msau's base install: pip install openvino"
        ) from error
    return openvino


def bf16_supported(core=None, device: str = "CPU") -> bool:
    """True if OpenVINO reports native bf16 on this device (OPTIMIZATION_CAPABILITIES lists BF16) and, on the
    CPU, no ONEDNN_MAX_CPU_ISA cap rules it out (msau.runtime.backends.onednn_isa)."""
    if device.upper().startswith("CPU") and not cap_allows(onednn_isa_cap(), BF16_ISA):
        return False
    if core is None:
        core = import_openvino().Core()
    try:
        return "BF16" in core.get_property(device, "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:  # an unknown device or a plugin that does not report capabilities
        return False


def _check_readable(path) -> None:
    """BackendError unless path is an OpenVINO IR or a file the ONNX frontend takes: without this, OpenVINO tries
    every frontend on any file (TensorFlow's prints parse errors to the terminal) before giving up."""
    if path.suffix.lower() not in OpenVINOBackend.model_suffixes:
        raise BackendError(
            f"{path}: the openvino backend reads {' or '.join(OpenVINOBackend.model_suffixes)} models, not "
            f"{path.suffix or 'files without a suffix'}"
        )
    if path.suffix.lower() == ONNX_SUFFIX:
        from openvino.frontend import FrontEndManager

        if not FrontEndManager().load_by_framework("onnx").supported(str(path)):
            raise BackendError(f"{path}: cannot load as an ONNX model (not an ONNX protobuf)")


def _spec(port) -> tuple[set[str], list[int | None]]:
    """(names, shape with None for dynamic dimensions) of an OpenVINO model input or output."""
    shape = port.get_partial_shape()
    dims = [d.get_length() if d.is_static else None for d in shape] if shape.rank.is_static else []
    return set(port.get_names()), dims


class OpenVINOBackend(Backend):
    """OpenVINO compiled model on the CPU (or another OpenVINO device name such as GPU).

    Options: ``threads`` (INFERENCE_NUM_THREADS), ``streams`` (NUM_STREAMS), ``hint`` (PERFORMANCE_HINT,
    default LATENCY: one request at a time, each as fast as possible), ``cached_shapes`` (compiled models kept).
    """

    name = "openvino"
    precisions = ("fp32", "bf16", "int8")
    model_suffixes = (IR_SUFFIX, ONNX_SUFFIX)  # in order of preference: the IR, where msau-export wrote one

    def __init__(self, model_path, precision="fp32", device=None, threads: int | None = None,
                 streams: int | str | None = None, hint: str = "LATENCY",
                 cached_shapes: int = DEFAULT_CACHED_SHAPES, **options) -> None:
        super().__init__(model_path, precision, device, **options)
        ov = import_openvino()
        self.device = (device or "CPU").upper()
        if not self.model_path.is_file():
            raise FileNotFoundError(f"{self.model_path}: no such model file")
        core = ov.Core()
        if self.device.split(".")[0] not in {d.split(".")[0] for d in core.available_devices}:
            raise BackendError(
                f"OpenVINO has no device {self.device!r} here (available: {', '.join(core.available_devices)})"
            )
        if precision == "bf16" and not bf16_supported(core, self.device):
            cap = onednn_isa_cap()
            why = (
                f"ONEDNN_MAX_CPU_ISA={cap} caps it below AVX512_CORE_BF16"
                if not cap_allows(cap, BF16_ISA)
                else "OpenVINO's OPTIMIZATION_CAPABILITIES lacks BF16"
            )
            raise BackendError(f"this {self.device} has no native bf16 ({why}); use precision fp32 or int8")
        if hint.upper() not in PERFORMANCE_HINTS:
            raise BackendError(f"unknown OpenVINO performance hint {hint!r}; choose one of {', '.join(PERFORMANCE_HINTS)}")
        self.config: dict[str, str] = {
            # Set explicitly: on AMX/AVX512-BF16 CPUs OpenVINO would otherwise pick bf16 even for "fp32".
            "INFERENCE_PRECISION_HINT": OV_PRECISION[precision],
            "PERFORMANCE_HINT": hint.upper(),
        }
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = str(int(threads))
        if streams:
            self.config["NUM_STREAMS"] = str(streams)
        self._core = core
        self._ov = ov
        self.source = self.model_path
        _check_readable(self.source)
        try:
            self._model = core.read_model(str(self.source))
        except RuntimeError as error:  # OpenVINO's parse errors, for any file that is not a model it reads
            raise load_error(self.source, "an ONNX or OpenVINO IR model", error) from error
        check_contract(self.source, [_spec(port) for port in self._model.inputs], [_spec(port) for port in self._model.outputs])
        self._input, self._output = INPUT_NAME, OUTPUT_NAME
        key = ["framework", CONTRACT_VERSION_KEY]  # where OpenVINO keeps ONNX metadata_props, in the IR too
        recorded = self._model.get_rt_info(key).astype(str) if self._model.has_rt_info(key) else None
        try:
            check_contract_version(self.source, recorded)
        except ValueError as error:
            raise BackendError(str(error)) from None
        self._requests: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self._cached_shapes = max(1, int(cached_shapes))
        self._lock = threading.Lock()

    def _request(self, shape: tuple[int, ...]):
        """The infer request of the model compiled for shape, compiling it the first time."""
        request = self._requests.get(shape)
        if request is not None:
            self._requests.move_to_end(shape)
            return request
        self._model.reshape({self._input: self._ov.PartialShape(list(shape))})
        compiled = self._core.compile_model(self._model, self.device, self.config)
        request = compiled.create_infer_request()
        self._requests[shape] = request
        if len(self._requests) > self._cached_shapes:
            self._requests.popitem(last=False)
        return request

    def infer(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)  # (N, 4, H, W)
        with self._lock:  # one request per shape: concurrent callers take turns
            request = self._request(tuple(int(s) for s in x.shape))
            # Shared both ways: by default infer() copies the input into the request and every output into the
            # dict it returns, which is dropped here; x outlives this synchronous call, and the output is copied
            # once, below, out of the request's buffer that the next call overwrites.
            request.infer({self._input: x}, share_inputs=True, share_outputs=True)
            ab = request.get_tensor(self._output).data  # a view of the request's buffer
            return np.array(ab, dtype=np.float32, copy=True)  # (N, 2, H, W)

    def compiled_property(self, name: str) -> str:
        """A property of the most recently compiled model (e.g. INFERENCE_PRECISION_HINT), for checks and reports."""
        if not self._requests:
            raise BackendError("nothing compiled yet: run infer once first")
        request = next(reversed(self._requests.values()))
        return str(request.get_compiled_model().get_property(name))

    def close(self) -> None:
        self._requests.clear()
        self._model = None
