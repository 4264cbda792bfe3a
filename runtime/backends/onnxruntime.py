"""ONNX Runtime: the CPU default everywhere, and CUDA / TensorRT execution providers with onnxruntime-gpu.

Devices: ``cpu`` (default), ``cuda`` or ``cuda:N`` (CUDA execution provider), ``tensorrt`` or ``tensorrt:N``
(TensorRT execution provider, FP16 on request, engine and timing caches kept in a folder so that only the
first run pays for the build). fp16 on ``cpu``/``cuda`` runs an FP16 ONNX graph: the given file if its name says it is one
(``<stem>.fp16.onnx``, msau.runtime.artifacts; the Colorizer and msau-bench pass it when msau-export wrote it),
else a conversion made in memory (needs onnxconverter-common, the ``export`` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from msau.runtime.artifacts import parse_artifact
from msau.runtime.backends.base import Backend, BackendError, MissingDependencyError, check_contract, load_error, require
from msau.runtime.contract import CONTRACT_VERSION_KEY, INPUT_NAME, OUTPUT_NAME, check_contract_version

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "msau" / "ort-tensorrt"


def parse_device(device: str | None) -> tuple[str, int]:
    """('cpu' | 'cuda' | 'tensorrt', device index) of a device string such as None, 'cpu', 'cuda:1'."""
    kind, _, index = (device or "cpu").lower().partition(":")
    if kind == "gpu":
        kind = "cuda"
    if kind not in PROVIDERS or (index and not index.isdigit()):
        raise BackendError(f"the onnxruntime backend runs on cpu, cuda[:N] or tensorrt[:N], not {device!r}")
    return kind, int(index or 0)


def convert_to_fp16(path: Path) -> bytes:
    """An FP16 copy of an FP32 ONNX graph, float32 inputs and outputs kept, serialised in memory."""
    onnx = require("onnx", "export", "onnxruntime (fp16)")
    float16 = require("onnxconverter_common.float16", "export", "onnxruntime (fp16)")
    import warnings

    with warnings.catch_warnings():
        # The converter warns for every weight below fp16's range; those are flushed to the smallest normal.
        warnings.simplefilter("ignore", UserWarning)
        model = float16.convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    return model.SerializeToString()


def import_onnxruntime():
    """The onnxruntime module, or MissingDependencyError saying how to get it back (it is a base dependency)."""
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingDependencyError(
            "the onnxruntime backend needs the 'onnxruntime' package, part of msau's base install: "
            "pip install onnxruntime (or pip install 'msau[gpu]' for onnxruntime-gpu)"
        ) from error
    return onnxruntime


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime session on CPU, CUDA or the TensorRT execution provider.

    Options: ``threads`` (intra-op threads, default: ONNX Runtime's choice), ``cache_dir`` (TensorRT EP
    engine and timing caches, default ~/.cache/msau/ort-tensorrt).
    """

    name = "onnxruntime"
    precisions = ("fp32", "fp16", "int8")  # int8: a QDQ graph (msau-export --int8), run as QLinearConv kernels
    model_suffixes = (".onnx",)

    def __init__(self, model_path, precision="fp32", device=None, threads: int | None = None,
                 cache_dir: str | Path | None = None, **options) -> None:
        super().__init__(model_path, precision, device, **options)
        ort = import_onnxruntime()
        kind, index = parse_device(device)
        self.device = kind if kind == "cpu" else f"{kind}:{index}"
        if not self.model_path.is_file():
            raise FileNotFoundError(f"{self.model_path}: no such ONNX model")
        wanted = PROVIDERS[kind]
        if wanted not in ort.get_available_providers():
            raise MissingDependencyError(
                f"the onnxruntime backend on {kind} needs {wanted}, which this onnxruntime does not have "
                f"(available: {', '.join(ort.get_available_providers())}): pip install 'msau[gpu]' "
                "(onnxruntime-gpu) and uninstall the CPU-only onnxruntime"
            )
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            session_options.intra_op_num_threads = int(threads)
        # ONNX Runtime's threads spin for a while after each run by default, on the cores the runtime's own work
        # (hint correction, propagation, decode) needs next: on 2 cores that work took 1.5-2x as long, and
        # Colorizer end to end was 117-142 ms with spinning against 92-96 ms without, the network alone
        # unchanged (67-80 ms).
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = self._providers(kind, index, cache_dir)
        try:
            self.session = ort.InferenceSession(self._model_source(kind), session_options, providers=providers)
        except (BackendError, MemoryError):
            raise
        except Exception as error:  # ONNX Runtime's InvalidProtobuf, Fail, ...: the file is not a usable model
            raise load_error(self.model_path, "an ONNX model", error) from error
        check_contract(
            self.model_path,
            [({i.name}, [d if isinstance(d, int) else None for d in i.shape]) for i in self.session.get_inputs()],
            [({o.name}, [d if isinstance(d, int) else None for d in o.shape]) for o in self.session.get_outputs()],
        )
        recorded = self.session.get_modelmeta().custom_metadata_map.get(CONTRACT_VERSION_KEY)
        try:
            check_contract_version(self.model_path, recorded)
        except ValueError as error:
            raise BackendError(str(error)) from None
        if wanted not in self.session.get_providers():
            # ONNX Runtime silently falls back to CPU when the CUDA/TensorRT libraries cannot be loaded.
            raise BackendError(
                f"onnxruntime could not start {wanted} (CUDA, cuDNN or TensorRT libraries missing or not matching "
                "this onnxruntime-gpu build); see https://onnxruntime.ai/docs/execution-providers/ for the versions"
            )
        self._input_dtype = np.float16 if self.session.get_inputs()[0].type == "tensor(float16)" else np.float32

    def _model_source(self, kind: str) -> str | bytes:
        """The file (or in-memory graph) to load: FP32 as given, or an FP16 graph for fp16 on cpu/cuda."""
        if self.precision != "fp16" or kind == "tensorrt":
            return str(self.model_path)  # the TensorRT EP makes its own FP16 engine from the FP32 graph
        if parse_artifact(self.model_path).precision == "fp16":
            return str(self.model_path)
        return convert_to_fp16(self.model_path)

    def _providers(self, kind: str, index: int, cache_dir: str | Path | None) -> list:
        cuda = ("CUDAExecutionProvider", {"device_id": index})
        if kind == "cpu":
            return ["CPUExecutionProvider"]
        if kind == "cuda":
            return [cuda, "CPUExecutionProvider"]
        cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR
        cache.mkdir(parents=True, exist_ok=True)
        trt_options = {
            "device_id": index,
            "trt_fp16_enable": self.precision == "fp16",
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
        }
        return [("TensorrtExecutionProvider", trt_options), cuda, "CPUExecutionProvider"]

    def infer(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self._input_dtype)  # (N, 4, H, W)
        (ab,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})
        return np.asarray(ab, dtype=np.float32)  # (N, 2, H, W)

    def close(self) -> None:
        self.session = None
