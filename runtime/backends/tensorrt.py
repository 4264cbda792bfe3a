"""TensorRT: a serialized engine run through the tensor-name API with cuda-python (``cuda.bindings``).

One CUDA stream; pinned (page-locked) host buffers and device buffers allocated for the largest batch seen
and reused for every later batch that fits (the input shape is only re-set when it changes). Input and output tensors
stay float32 (the engine is built from an ONNX graph whose I/O types were kept); fp16 lives inside the engine.

On load, the engine's JSON sidecar (``<engine>.json``, written by ``msau-export --engine``) is checked against
this machine: an engine is specific to one GPU model and one TensorRT version, and a mismatch is refused with
the command that rebuilds it. ``TensorRTBackend.from_plan`` runs a plan held in memory (msau-export checks the
engine it has just built with this very runner, before writing it).

Every TensorRT and cuda-python name used here exists in TensorRT 10.x and 11.x (checked against the real
bindings by tests/export/test_export_tensorrt_bindings.py): the tensor-name API, no bindings, no precision flags.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from msau.runtime.artifacts import ENGINE_SUFFIXES
from msau.runtime.backends.base import Backend, BackendError, MissingDependencyError, require
from msau.runtime.contract import INPUT_NAME, OUTPUT_NAME

if TYPE_CHECKING:  # for annotations only; tests/export/test_export_tensorrt_bindings.py checks their names
    from cuda.bindings import runtime as cudart

EXTRA = "tensorrt"
IN_MEMORY = Path("(engine in memory)")


def import_cudart():
    """cuda-python's runtime API module (``cuda.bindings.runtime``, or ``cuda.cudart`` before cuda-python 12.6)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as error:
            raise MissingDependencyError(
                "the tensorrt backend needs the 'cuda-python' package: pip install 'msau[tensorrt]'"
            ) from error
    return cudart


def cuda_check(result):
    """The value(s) of a cuda-python call ``(err, *values)``, or BackendError naming the CUDA error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if getattr(err, "value", err) != 0:  # cudaError_t is an enum; cudaSuccess is 0
        raise BackendError(f"CUDA error {err!r}; is the NVIDIA driver working (nvidia-smi)?")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def gpu_info(cudart, device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability 'major.minor') of a CUDA device."""
    props: cudart.cudaDeviceProp = cuda_check(cudart.cudaGetDeviceProperties(device))
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.rstrip("\x00").strip(), f"{props.major}.{props.minor}"


def cuda_device_count() -> int:
    """How many CUDA GPUs cuda-python sees (0 without cuda-python, a driver or a GPU)."""
    try:
        cudart = import_cudart()
        err, count = cudart.cudaGetDeviceCount()
    except Exception:  # no driver: cuda-python raises on load as well as returning an error code
        return 0
    return int(count) if getattr(err, "value", err) == 0 else 0


class _PinnedBuffer:
    """A pinned host float32 array and a device buffer of the same capacity, freed together."""

    def __init__(self, cudart, count: int) -> None:
        self._cudart = cudart
        self.count = int(count)
        self.nbytes = self.count * np.dtype(np.float32).itemsize
        self._host_ptr = cuda_check(cudart.cudaMallocHost(self.nbytes))
        pointer = ctypes.cast(int(self._host_ptr), ctypes.POINTER(ctypes.c_float))
        self.host = np.ctypeslib.as_array(pointer, (self.count,))  # (count,) float32, pinned
        self.device = int(cuda_check(cudart.cudaMalloc(self.nbytes)))

    def free(self) -> None:
        cuda_check(self._cudart.cudaFree(self.device))
        cuda_check(self._cudart.cudaFreeHost(self._host_ptr))


class TensorRTBackend(Backend):
    """A TensorRT engine on an NVIDIA GPU, from an engine file or (``from_plan``) plan bytes.

    Options: ``check_sidecar`` (default True; a plan given in memory has no sidecar to check).
    """

    name = "tensorrt"
    precisions = ("fp32", "fp16", "bf16")
    model_suffixes = ENGINE_SUFFIXES

    def __init__(
        self, model_path, precision="fp32", device=None, check_sidecar: bool = True, plan: bytes | None = None,
        **options,
    ) -> None:
        super().__init__(model_path, precision, device, **options)
        trt = require("tensorrt", EXTRA, self.name)
        cudart = import_cudart()
        self._trt, self._cudart = trt, cudart
        self._stream = None
        index = int((device or "cuda:0").partition(":")[2] or 0)
        self.device = f"cuda:{index}"
        if plan is None and not self.model_path.is_file():
            raise FileNotFoundError(f"{self.model_path}: no such TensorRT engine; build one with msau-export --engine")
        if cuda_device_count() <= index:
            raise BackendError(f"the tensorrt backend needs an NVIDIA GPU ({self.device}) and CUDA sees none")
        cuda_check(cudart.cudaSetDevice(index))
        self.sidecar = self._check_sidecar(trt, cudart, index) if check_sidecar and plan is None else {}
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        self.engine = runtime.deserialize_cuda_engine(plan if plan is not None else self.model_path.read_bytes())
        if self.engine is None:
            raise BackendError(
                f"{self.model_path}: TensorRT could not deserialize this engine (corrupt, or built by another "
                f"TensorRT version than {trt.__version__}); rebuild it with msau-export --engine"
            )
        self.context = self.engine.create_execution_context()
        self._runtime = runtime
        self._check_io(trt)
        self._input: _PinnedBuffer | None = None
        self._output: _PinnedBuffer | None = None
        self._shape: tuple[int, ...] | None = None
        self._stream = cuda_check(cudart.cudaStreamCreate())

    @classmethod
    def from_plan(
        cls, plan: bytes, precision: str = "fp32", device: str | None = None, label: str | Path = IN_MEMORY
    ) -> "TensorRTBackend":
        """The runner of a serialized engine held in memory (one msau-export has just built); label names it in
        messages."""
        return cls(label, precision, device, check_sidecar=False, plan=plan)

    def _check_sidecar(self, trt, cudart, index: int) -> dict:
        """Read ``<engine>.json`` and refuse an engine built for another GPU, TensorRT or contract."""
        from msau.runtime.engine_sidecar import check_engine_compatible, read_sidecar

        sidecar = read_sidecar(self.model_path)
        gpu_name, capability = gpu_info(cudart, index)
        check_engine_compatible(sidecar, trt.__version__, gpu_name, capability)  # ValueError says how to rebuild
        built = sidecar.get("precision")
        if built and built != self.precision:
            raise BackendError(
                f"{self.model_path} is a {built} engine; run it with precision {built} or rebuild it "
                f"with msau-export --engine for {self.precision}"
            )
        return sidecar

    def _check_io(self, trt) -> None:
        names = {self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)}
        if names != {INPUT_NAME, OUTPUT_NAME}:
            raise BackendError(
                f"{self.model_path}: engine tensors are {sorted(names)}, expected {INPUT_NAME!r} -> {OUTPUT_NAME!r}; "
                "rebuild it from an msau ONNX export"
            )
        for name in (INPUT_NAME, OUTPUT_NAME):
            if trt.nptype(self.engine.get_tensor_dtype(name)) != np.float32:
                raise BackendError(f"{self.model_path}: tensor {name!r} must be float32 (export the FP16 ONNX with keep_io_types)")
        # (min, opt, max) shapes of optimization profile 0: batches beyond max are split, sizes outside refused.
        self.profile = [tuple(s) for s in self.engine.get_tensor_profile_shape(INPUT_NAME, 0)]

    def _buffers(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Pinned host views (input, output) for a shape; buffers grow when needed and are otherwise reused."""
        out_shape = (shape[0], 2) + tuple(shape[2:])
        count_in, count_out = int(np.prod(shape)), int(np.prod(out_shape))
        if self._input is None or self._input.count < count_in:
            self._free_buffers()
            self._input = _PinnedBuffer(self._cudart, count_in)
            self._output = _PinnedBuffer(self._cudart, count_out)
            self.context.set_tensor_address(INPUT_NAME, self._input.device)
            self.context.set_tensor_address(OUTPUT_NAME, self._output.device)
            self._shape = None
        if shape != self._shape:
            if not self.context.set_input_shape(INPUT_NAME, shape):
                raise BackendError(f"{self.model_path}: the engine refused input shape {shape}")
            self._shape = shape
        return self._input.host[:count_in].reshape(shape), self._output.host[:count_out].reshape(out_shape)

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        low, _, high = self.profile
        if any(s < lo or s > hi for s, lo, hi in zip(shape[1:], low[1:], high[1:])):
            raise BackendError(
                f"{self.model_path} accepts inputs from {low[2]}x{low[3]} to {high[2]}x{high[3]}, not {shape[2]}x{shape[3]}; "
                "use a size in that range or rebuild the engine with msau-export --engine --size ..."
            )

    def infer(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)  # (N, 4, H, W)
        self._check_shape(x.shape)
        min_batch, max_batch = self.profile[0][0], self.profile[2][0]
        if x.shape[0] > max_batch:  # the engine's profile caps the batch: run it in slices
            return np.concatenate([self.infer(x[i : i + max_batch]) for i in range(0, x.shape[0], max_batch)])
        if x.shape[0] < min_batch:  # and may set a floor: pad by repeating the last input, drop the extra outputs
            padding = np.repeat(x[-1:], min_batch - x.shape[0], axis=0)
            return self.infer(np.concatenate([x, padding]))[: x.shape[0]]
        cudart = self._cudart
        host_in, host_out = self._buffers(tuple(int(s) for s in x.shape))
        np.copyto(host_in, x)
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        cuda_check(cudart.cudaMemcpyAsync(self._input.device, host_in.ctypes.data, host_in.nbytes, h2d, self._stream))
        if not self.context.execute_async_v3(stream_handle=int(self._stream)):
            raise BackendError(f"{self.model_path}: TensorRT execution failed for input shape {tuple(x.shape)}")
        cuda_check(cudart.cudaMemcpyAsync(host_out.ctypes.data, self._output.device, host_out.nbytes, d2h, self._stream))
        cuda_check(cudart.cudaStreamSynchronize(self._stream))
        return host_out.copy()  # (N, 2, H, W); the pinned buffer is reused by the next batch

    def _free_buffers(self) -> None:
        for buffer in (self._input, self._output):
            if buffer is not None:
                buffer.free()
        self._input = self._output = None

    def close(self) -> None:
        if getattr(self, "_stream", None) is None:
            return
        self._free_buffers()
        cuda_check(self._cudart.cudaStreamDestroy(self._stream))
        self._stream = None
        self.context = self.engine = self._runtime = None

