"""Backends: parity of every installed backend with torch fp32, per-backend behaviour, and auto's choice."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from msau.runtime.backends import auto
from msau.runtime.backends.base import BackendError, MissingDependencyError, open_backend
from msau.runtime.encoding import encode
from msau.runtime.hints import sample_hints

torch = pytest.importorskip("torch")

FP32_MAX_ABS = 1e-4
LOW_PRECISION_PSNR_DB = 40.0


def synthetic_photo(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth random colour field with grain: photo-like statistics without any data files."""
    low = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
    smooth = cv2.resize(low, (size[1], size[0]), interpolation=cv2.INTER_CUBIC).astype(np.int32)
    return np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)


def contract_batch(count: int, size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, 4, H, W), target ab/110 (N, 2, H, W)) from synthetic photos with 1% hints."""
    from msau.runtime.color import rgb_to_lab

    rng = np.random.default_rng(seed)
    xs, targets = [], []
    for i in range(count):
        photo = synthetic_photo(size, rng)
        x, _ = encode(photo, sample_hints(photo, 0.01, seed + i), size)
        xs.append(x)
        targets.append(rgb_to_lab(photo)[..., 1:].transpose(2, 0, 1) / 110.0)
    return np.stack(xs), np.stack(targets).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A tiny MSAU-Net trained 30 steps (so its outputs and activations look like a real model's), saved both ways."""
    from msau.export.onnx_export import export_onnx
    from msau.model.checkpoint import save_checkpoint
    from msau.model.network import create_model

    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    model = create_model("tiny", widths=(4, 8, 16, 32, 64))
    optimizer = torch.optim.Adam(model.parameters(), 2e-3)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # layers this small only lose to threading overhead (8x on a busy 2-core box)
    try:
        for step in range(30):
            x, target = contract_batch(4, (48, 48), seed=1000 + 10 * step)
            loss = (model(torch.from_numpy(x)) - torch.from_numpy(target)).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    save_checkpoint(folder / "m.safetensors", model)
    export_onnx(model, folder / "m.onnx", size=64)
    return {"onnx": folder / "m.onnx", "safetensors": folder / "m.safetensors"}


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    x, _ = contract_batch(2, (64, 48), seed=7)  # non-square, two images: batch and spatial axes both dynamic
    return x


@pytest.fixture(scope="module")
def reference(trained, inputs) -> np.ndarray:
    with open_backend("torch", trained["safetensors"], "fp32") as backend:
        return backend.infer(inputs)


def output_psnr(reference: np.ndarray, result: np.ndarray) -> float:
    """10 log10(range^2 / MSE) over the reference output's range."""
    value_range = float(reference.max() - reference.min())
    mse = float(np.mean((reference.astype(np.float64) - result) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(value_range**2 / mse)


def openvino_bf16() -> bool:
    try:
        return auto.openvino_available() and auto.openvino_bf16()
    except Exception:
        return False


def test_reference_is_not_trivial(reference):
    # Parity on a constant output would prove nothing: the trained model's ab must vary.
    assert reference.shape == (2, 2, 64, 48)
    assert reference.std() > 0.05
    assert reference.max() - reference.min() > 0.3


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_fp32_parity_with_torch(name, trained, inputs, reference):
    pytest.importorskip(name)
    with open_backend(name, trained["onnx"], "fp32", threads=1) as backend:
        result = backend.infer(inputs)
    assert result.shape == reference.shape and result.dtype == np.float32
    assert np.abs(result - reference).max() <= FP32_MAX_ABS


@pytest.mark.parametrize(
    "name, precision",
    [("torch", "bf16"), ("torch", "fp16"), ("onnxruntime", "fp16"), ("openvino", "bf16")],
)
def test_low_precision_psnr_against_torch_fp32(name, precision, trained, inputs, reference):
    if name == "openvino" and not openvino_bf16():
        pytest.skip("OpenVINO reports no native bf16 on this CPU")
    if name == "onnxruntime":
        pytest.importorskip("onnxconverter_common")  # the in-memory FP16 conversion
    path = trained["safetensors"] if name == "torch" else trained["onnx"]
    with open_backend(name, path, precision, threads=1) as backend:
        result = backend.infer(inputs)
    assert result.shape == reference.shape
    assert not np.array_equal(result, reference)  # it really ran in low precision
    assert output_psnr(reference, result) >= LOW_PRECISION_PSNR_DB


# --- OpenVINO ---------------------------------------------------------------------------------------------


def test_openvino_compiles_once_per_shape(trained, inputs):
    pytest.importorskip("openvino")
    with open_backend("openvino", trained["onnx"], "fp32", threads=1, cached_shapes=2) as backend:
        first = backend.infer(inputs)
        request = backend._requests[inputs.shape]
        np.testing.assert_array_equal(backend.infer(inputs), first)
        assert backend._requests[inputs.shape] is request  # reused, not recompiled
        single = backend.infer(inputs[:1])
        np.testing.assert_allclose(single, first[:1], atol=FP32_MAX_ABS)
        assert set(backend._requests) == {inputs.shape, inputs[:1].shape}
        backend.infer(np.zeros((1, 4, 32, 32), np.float32))  # a third shape evicts the least recently used
        assert set(backend._requests) == {inputs[:1].shape, (1, 4, 32, 32)}
        # fp32 must be asked for explicitly: on bf16 CPUs OpenVINO's default inference precision is bf16.
        assert backend.compiled_property("INFERENCE_PRECISION_HINT") in ("f32", "<Type: 'float32'>")


def test_openvino_refuses_bf16_without_cpu_support(trained, monkeypatch):
    pytest.importorskip("openvino")
    import msau.runtime.backends.openvino as ov_backend

    monkeypatch.setattr(ov_backend, "bf16_supported", lambda core=None, device="CPU": False)
    with pytest.raises(BackendError, match="no native bf16"):
        open_backend("openvino", trained["onnx"], "bf16")


def test_openvino_rejects_unknown_hint_and_fp16(trained):
    pytest.importorskip("openvino")
    with pytest.raises(BackendError, match="unknown OpenVINO performance hint 'FAST'"):
        open_backend("openvino", trained["onnx"], "fp32", hint="FAST")
    with pytest.raises(BackendError, match="supports precision fp32, bf16, int8, not 'fp16'"):
        open_backend("openvino", trained["onnx"], "fp16")


# --- ONNX Runtime -----------------------------------------------------------------------------------------


def test_onnxruntime_gpu_providers_need_the_gpu_extra(trained, monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    for device in ("cuda", "tensorrt:1"):
        with pytest.raises(MissingDependencyError, match=r"pip install 'msau\[gpu\]'"):
            open_backend("onnxruntime", trained["onnx"], "fp32", device=device)
    with pytest.raises(BackendError, match="runs on cpu, cuda\\[:N\\] or tensorrt\\[:N\\], not 'tpu'"):
        open_backend("onnxruntime", trained["onnx"], "fp32", device="tpu")


def test_onnxruntime_fp16_runs_the_fp16_file_msau_export_wrote(trained, tmp_path):
    from msau.runtime.backends.onnxruntime import OnnxRuntimeBackend
    from msau.runtime.colorizer import resolve_for_backend

    model = tmp_path / "net.onnx"
    model.write_bytes(trained["onnx"].read_bytes())
    assert resolve_for_backend(model, "onnxruntime", "fp16") == model  # none written: converted in memory
    sibling = tmp_path / "net.fp16.onnx"
    sibling.write_bytes(b"not read here")
    (tmp_path / "net-fp16.onnx").write_bytes(b"not msau-export's name")
    assert resolve_for_backend(model, "onnxruntime", "fp16") == sibling
    assert resolve_for_backend(sibling, "onnxruntime", "fp32") == model  # a file named fp16 is not the fp32 one
    backend = OnnxRuntimeBackend.__new__(OnnxRuntimeBackend)
    backend.model_path, backend.precision = sibling, "fp16"
    assert backend._model_source("cpu") == str(sibling)  # a file named as FP16 is taken as it is
    backend.model_path = model
    assert backend._model_source("tensorrt") == str(model)  # the TensorRT EP builds FP16 from the FP32 graph


def test_onnxruntime_tensorrt_provider_options(tmp_path):
    from msau.runtime.backends.onnxruntime import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend.__new__(OnnxRuntimeBackend)
    backend.precision = "fp16"
    providers = backend._providers("tensorrt", 1, tmp_path / "cache")
    name, options = providers[0]
    assert name == "TensorrtExecutionProvider"
    assert options["trt_fp16_enable"] is True and options["device_id"] == 1
    assert options["trt_engine_cache_path"] == options["trt_timing_cache_path"] == str(tmp_path / "cache")
    assert (tmp_path / "cache").is_dir()
    assert providers[1][0] == "CUDAExecutionProvider" and providers[-1] == "CPUExecutionProvider"


# --- torch ------------------------------------------------------------------------------------------------


def test_torch_finds_the_checkpoint_beside_an_onnx_file(trained, inputs, reference, tmp_path):
    with open_backend("torch", trained["onnx"], "fp32") as backend:
        assert backend.checkpoint == trained["safetensors"]
        np.testing.assert_array_equal(backend.infer(inputs), reference)
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no lonely.safetensors beside it"):
        open_backend("torch", lonely, "fp32")


# --- TensorRT ---------------------------------------------------------------------------------------------


def test_tensorrt_missing_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt now fails even where it is installed
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    with pytest.raises(MissingDependencyError, match=r"pip install 'msau\[tensorrt\]'"):
        open_backend("tensorrt", engine, "fp16")


def test_tensorrt_sidecar_mismatch_is_refused_with_the_rebuild_command(tmp_path, monkeypatch):
    from msau.runtime.backends.tensorrt import TensorRTBackend

    seen = {}

    def read_sidecar(path):
        seen["path"] = Path(path)
        return {"precision": "fp16", "gpu_name": "NVIDIA A100", "tensorrt_version": "10.3.0"}

    def check_engine_compatible(sidecar, tensorrt_version, gpu_name, compute_capability):
        seen["args"] = (tensorrt_version, gpu_name, compute_capability)
        if gpu_name != sidecar["gpu_name"]:
            raise ValueError(f"engine built for {sidecar['gpu_name']}; rebuild: msau-export --engine ...")

    module = types.ModuleType("msau.runtime.engine_sidecar")
    module.read_sidecar, module.check_engine_compatible = read_sidecar, check_engine_compatible
    monkeypatch.setitem(sys.modules, "msau.runtime.engine_sidecar", module)
    props = types.SimpleNamespace(name=b"NVIDIA H100 80GB HBM3\x00", major=9, minor=0)
    cudart = types.SimpleNamespace(cudaGetDeviceProperties=lambda index: (0, props))
    fake_trt = types.SimpleNamespace(__version__="10.3.0")
    backend = TensorRTBackend.__new__(TensorRTBackend)
    backend.model_path, backend.precision = tmp_path / "m.engine", "fp16"

    with pytest.raises(ValueError, match="msau-export --engine"):
        backend._check_sidecar(fake_trt, cudart, 0)
    assert seen == {"path": tmp_path / "m.engine", "args": ("10.3.0", "NVIDIA H100 80GB HBM3", "9.0")}

    module.check_engine_compatible = lambda *args: None
    backend.precision = "fp32"
    with pytest.raises(BackendError, match="is a fp16 engine; run it with precision fp16"):
        backend._check_sidecar(fake_trt, cudart, 0)
    backend.precision = "fp16"
    assert backend._check_sidecar(fake_trt, cudart, 0)["precision"] == "fp16"


def test_tensorrt_real_sidecar_refuses_another_gpu(tmp_path):
    from msau.runtime.backends.tensorrt import TensorRTBackend
    from msau.runtime.engine_sidecar import make_sidecar, write_sidecar

    engine = tmp_path / "m.fp16.engine"
    engine.write_bytes(b"plan")
    sidecar = make_sidecar(
        engine, onnx_sha256="0" * 64, tensorrt_version="10.3.0", gpu_name="NVIDIA A100-SXM4-80GB",
        compute_capability="8.0", precision="fp16", profile={}, build_options={},
    )
    write_sidecar(engine, sidecar)
    props = types.SimpleNamespace(name=b"NVIDIA H100 80GB HBM3", major=9, minor=0)
    cudart = types.SimpleNamespace(cudaGetDeviceProperties=lambda index: (0, props))
    backend = TensorRTBackend.__new__(TensorRTBackend)
    backend.model_path, backend.precision = engine, "fp16"
    with pytest.raises(ValueError, match="runs only on the GPU model it was built on.*msau-export"):
        backend._check_sidecar(types.SimpleNamespace(__version__="10.3.0"), cudart, 0)
    with pytest.raises(ValueError, match="runs only with the TensorRT version that built it"):
        backend._check_sidecar(types.SimpleNamespace(__version__="10.4.0"), cudart, 0)
    (tmp_path / "m.fp16.engine.json").unlink()
    with pytest.raises(ValueError, match="no sidecar beside the engine m.fp16.engine"):
        backend._check_sidecar(types.SimpleNamespace(__version__="10.3.0"), cudart, 0)


def test_find_engine_follows_msau_export_names(tmp_path):
    from msau.runtime.artifacts import find_engine

    model = tmp_path / "msau-tiny.onnx"
    assert find_engine(model) is None
    (tmp_path / "msau-tiny.engine").write_bytes(b"")
    assert find_engine(model) == tmp_path / "msau-tiny.engine"
    (tmp_path / "msau-tiny.fp16.engine").write_bytes(b"")
    assert find_engine(model) == tmp_path / "msau-tiny.fp16.engine"  # fp16 first when free to choose
    assert find_engine(model, "fp32") == tmp_path / "msau-tiny.engine"
    assert find_engine(tmp_path / "msau-tiny.fp16.onnx", "fp16") == tmp_path / "msau-tiny.fp16.engine"
    assert find_engine(model, "bf16") is None


def test_openvino_is_given_the_ir_written_beside_the_onnx(trained, inputs, tmp_path):
    ov = pytest.importorskip("openvino")
    from msau.runtime.colorizer import resolve_for_backend

    model = tmp_path / "net.onnx"
    model.write_bytes(trained["onnx"].read_bytes())
    assert resolve_for_backend(model, "openvino", "fp32") == model
    ov.save_model(ov.Core().read_model(str(model)), str(tmp_path / "net.xml"), compress_to_fp16=False)
    assert resolve_for_backend(model, "openvino", "fp32") == tmp_path / "net.xml"
    assert resolve_for_backend(tmp_path / "net.fp16.onnx", "openvino", "fp32") == tmp_path / "net.xml"
    with open_backend("openvino", resolve_for_backend(model, "openvino", "fp32"), "fp32", threads=1) as backend:
        assert backend.source == tmp_path / "net.xml"
        with open_backend("openvino", trained["onnx"], "fp32", threads=1) as direct:
            np.testing.assert_allclose(backend.infer(inputs), direct.infer(inputs), atol=FP32_MAX_ABS)


def test_cuda_check_reports_errors():
    from msau.runtime.backends.tensorrt import cuda_check

    assert cuda_check((0, 42)) == 42
    assert cuda_check((0,)) is None
    with pytest.raises(BackendError, match="CUDA error 2"):
        cuda_check((2, None))


def _cuda_gpu() -> bool:
    try:
        from msau.runtime.backends.tensorrt import cuda_device_count

        return auto.has_module("tensorrt") and cuda_device_count() > 0
    except Exception:
        return False


@pytest.mark.tensorrt
@pytest.mark.skipif(not _cuda_gpu(), reason="needs tensorrt, cuda-python and an NVIDIA GPU")
def test_tensorrt_engine_parity(trained, inputs, reference, tmp_path):
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(trained["onnx"].read_bytes())
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 4, 32, 32), (2, 4, 64, 48), (2, 4, 128, 128))
    config.add_optimization_profile(profile)
    engine = tmp_path / "m.engine"
    engine.write_bytes(bytes(builder.build_serialized_network(network, config)))
    with open_backend("tensorrt", engine, "fp32", check_sidecar=False) as backend:
        result = backend.infer(inputs)
        again = backend.infer(np.concatenate([inputs, inputs]))  # beyond the profile's batch: run in slices
    assert np.abs(result - reference).max() <= 1e-3  # TF32 convolutions on Ampere+ by default
    np.testing.assert_array_equal(again[:2], result)


# --- auto -------------------------------------------------------------------------------------------------


@pytest.fixture
def probes(monkeypatch):
    """Set what auto sees: probes["tensorrt"] = True etc."""
    state = {"tensorrt": False, "ort_cuda": False, "openvino": True, "bf16": True, "torch_cuda": False}
    monkeypatch.setattr(auto, "tensorrt_available", lambda: state["tensorrt"])
    monkeypatch.setattr(auto, "onnxruntime_cuda_available", lambda: state["ort_cuda"])
    monkeypatch.setattr(auto, "openvino_available", lambda: state["openvino"])
    monkeypatch.setattr(auto, "openvino_bf16", lambda: state["bf16"])
    reported = {True: frozenset({"FP32", "BF16", "INT8"}), False: frozenset({"FP32", "INT8"})}
    monkeypatch.setattr(
        auto, "cpu_capabilities",
        lambda: auto.CpuCapabilities(frozenset(), reported[state["bf16"]] if state["openvino"] else None),
    )
    monkeypatch.setattr(auto, "torch_cuda_available", lambda: state["torch_cuda"])
    monkeypatch.setattr(auto, "engine_precision", lambda engine: "fp16")
    return state


def test_auto_order(probes, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    engine = tmp_path / "m.fp16.engine"  # as msau-export names it
    engine.write_bytes(b"")
    probes.update(tensorrt=True, ort_cuda=True)
    assert auto.choose(model) == auto.Choice("tensorrt", engine, "fp16", None)
    engine.unlink()  # TensorRT present but no engine for this model: ONNX Runtime on CUDA
    assert auto.choose(model) == auto.Choice("onnxruntime", model, "fp32", "cuda")
    probes.update(tensorrt=False, ort_cuda=False)
    assert auto.choose(model) == auto.Choice("openvino", model, "bf16", "CPU")
    probes.update(bf16=False)
    assert auto.choose(model) == auto.Choice("openvino", model, "fp32", "CPU")
    probes.update(openvino=False)
    assert auto.choose(model) == auto.Choice("onnxruntime", model, "fp32", "cpu")


def test_auto_respects_precision_device_and_model_kind(probes, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    (tmp_path / "m.fp16.engine").write_bytes(b"")
    probes.update(tensorrt=True, ort_cuda=True)
    # The engine is fp16; fp32 asked for: ONNX Runtime CUDA instead of a wrong-precision engine.
    assert auto.choose(model, precision="fp32") == auto.Choice("onnxruntime", model, "fp32", "cuda")
    assert auto.choose(model, device="cpu") == auto.Choice("openvino", model, "bf16", "CPU")
    assert auto.choose(model, precision="fp32", device="cpu") == auto.Choice("openvino", model, "fp32", "CPU")
    probes.update(openvino=False)
    assert auto.choose(model, precision="fp16", device="cpu") == auto.Choice("onnxruntime", model, "fp16", "cpu")
    with pytest.raises(BackendError, match="no available backend runs m.onnx in bf16"):
        auto.choose(model, precision="bf16", device="cpu")
    weights = tmp_path / "m.safetensors"
    assert auto.choose(weights) == auto.Choice("torch", weights, "fp32", "cpu")
    probes.update(torch_cuda=True)
    assert auto.choose(weights, precision="bf16") == auto.Choice("torch", weights, "bf16", "cuda")
    assert auto.choose(tmp_path / "m.engine") == auto.Choice("tensorrt", tmp_path / "m.engine", "fp16", None)


def test_auto_probes_run_here_without_error():
    # Whatever this machine has, the real probes answer with a bool and import nothing they do not need.
    for probe in (auto.tensorrt_available, auto.onnxruntime_cuda_available, auto.openvino_available):
        assert isinstance(probe(), bool)
