"""The Python API: Colorizer on any photo, with hints in every accepted form, batched or not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from msau.runtime.backends.base import BackendError, open_backend
from msau.runtime.color import image_lightness, lightness
from msau.runtime.colorizer import Colorizer
from msau.runtime.encoding import decode, encode
from msau.runtime.hints import HintError, Hints

torch = pytest.importorskip("torch")

SIZE = 64


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny random MSAU-Net as ONNX with its checkpoint beside it (the API, not the weights, is under test)."""
    from msau.export.onnx_export import export_onnx
    from msau.model.checkpoint import save_checkpoint
    from msau.model.network import create_model

    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    net = create_model("tiny", widths=(4, 8, 16, 32, 64)).eval()
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([0.2, -0.3]))  # a clearly coloured output, so colour is visible in tests
    save_checkpoint(folder / "m.safetensors", net)
    return export_onnx(net, folder / "m.onnx", size=SIZE)


@pytest.fixture(scope="module")
def colorizer(model):
    with Colorizer(model, backend="onnxruntime", size=SIZE, threads=1) as c:
        yield c


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((height, width, 3)) * 255).astype(np.uint8)


HINT_DOC = {"hints": [{"x": 5, "y": 7, "rgb": [220, 20, 30], "radius": 2}, {"x": 40, "y": 30, "rgb": [10, 40, 230]}]}


def test_gray_photo_keeps_its_size_and_lightness(colorizer):
    gray = photo(37, 53)[..., 0]
    result = colorizer(gray)
    assert result.shape == (37, 53, 3) and result.dtype == np.uint8
    # The photo's own L* is kept at full resolution: only uint8 rounding (and gamut clipping of saturated
    # near-black/near-white pixels) separates them.
    difference = np.abs(lightness(result) - image_lightness(gray))
    midtones = (image_lightness(gray) > 30) & (image_lightness(gray) < 70)
    assert difference[midtones].max() < 1.0 and np.median(difference) < 0.3
    assert np.abs(result[..., 0].astype(int) - result[..., 2]).mean() > 3  # and it is coloured


def test_same_as_the_documented_pipeline(colorizer, model):
    image = photo(61, 100)
    x, lum = encode(image, None, (SIZE, SIZE))
    with open_backend("onnxruntime", model, "fp32", threads=1) as backend:
        ab = backend.infer(x[None])[0]
    np.testing.assert_array_equal(colorizer(image), decode(ab, lum, "bicubic"))


def test_16_bit_rgba_and_gray_inputs(colorizer):
    image8 = photo(40, 30, seed=3)
    image16 = image8.astype(np.uint16) * 257  # the same colours in 16 bits
    np.testing.assert_array_equal(colorizer(image16), colorizer(image8))
    rgba = np.concatenate([image8, np.zeros((40, 30, 1), np.uint8)], axis=2)  # transparent: alpha is ignored
    np.testing.assert_array_equal(colorizer(rgba), colorizer(image8))
    np.testing.assert_array_equal(colorizer(image8[..., :1]), colorizer(image8[..., 0]))


def test_hints_in_every_form_agree_and_matter(colorizer, tmp_path, same_colours):
    image = photo(37, 53, seed=1)[..., 0]
    path = tmp_path / "h.json"
    path.write_text(json.dumps(HINT_DOC))
    from msau.runtime.hints import parse_hints_document as hints_from_document

    as_object = hints_from_document(HINT_DOC)
    rgba = np.zeros((37, 53, 4), np.uint8)
    rgba[7, 5] = [220, 20, 30, 255]
    by_file, by_str, by_dict, by_object = (colorizer(image, h) for h in (path, str(path), HINT_DOC, as_object))
    same_colours(by_file, by_dict)
    same_colours(by_str, by_dict)
    same_colours(by_object, by_dict)
    without = colorizer(image)
    assert np.abs(by_dict.astype(int) - without).max() > 0  # hints change the result
    painted = colorizer(image, rgba)
    single = colorizer(image, {"hints": [{"x": 5, "y": 7, "rgb": [220, 20, 30]}]})
    same_colours(painted, single)


def test_bad_hints_are_named(colorizer, tmp_path):
    image = photo(37, 53)
    outside = {"hints": [{"x": 60, "y": 3, "rgb": [1, 2, 3]}]}
    with pytest.raises(HintError, match=r"hints: hint 0 at \(x=60, y=3\) lies outside the 53x37 image"):
        colorizer(image, outside)
    path = tmp_path / "far.json"
    path.write_text(json.dumps(outside))
    with pytest.raises(HintError, match=r"far.json: hint 0 at \(x=60"):
        colorizer(image, path)
    with pytest.raises(HintError, match="hints: hint 0 is missing 'rgb'"):
        colorizer(image, {"hints": [{"x": 1, "y": 1}]})
    with pytest.raises(HintError, match=r"painted hints must be an RGBA array of shape \(37, 53, 4\)"):
        colorizer(image, np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(TypeError, match="hints must be None, Hints, a path"):
        colorizer(image, 42)


def test_batch_matches_single_calls(colorizer):
    images = [photo(37, 53, 0)[..., 0], photo(61, 100, 1), photo(16, 16, 2)]
    hints = [HINT_DOC, None, Hints.empty()]
    batched = colorizer.batch(images, hints, batch_size=2)
    assert [r.shape for r in batched] == [(37, 53, 3), (61, 100, 3), (16, 16, 3)]
    for result, image, hint in zip(batched, images, hints, strict=True):
        # A batch of two and a batch of one may take different kernels: allow one uint8 step.
        assert np.abs(result.astype(int) - colorizer(image, hint)).max() <= 1
    with pytest.raises(ValueError, match="got 3 images but 1 hint sets"):
        colorizer.batch(images, [None])


def test_bad_images_and_arguments(colorizer, model):
    with pytest.raises(ValueError, match=r"expected an image of shape \(H, W\) or \(H, W, 3\), got \(4, 4, 2\)"):
        colorizer(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="unsupported image dtype int32"):
        colorizer(np.zeros((4, 4), np.int32))
    with pytest.raises(ValueError, match="empty image"):
        colorizer(np.zeros((0, 4), np.uint8))
    with pytest.raises(ValueError, match="size must be a positive multiple of 16, got 100"):
        Colorizer(model, backend="onnxruntime", size=100)
    with pytest.raises(BackendError, match="unknown backend 'tflite'"):
        Colorizer(model, backend="tflite")
    with pytest.raises(BackendError, match="unknown precision 'fp8'"):
        Colorizer(model, precision="fp8")
    with pytest.raises(FileNotFoundError, match="nope.onnx: no such model file"):
        Colorizer(model.parent / "nope.onnx")
    with pytest.raises(ValueError, match="unknown gray formula 'luma'; choose one of auto, lightness, rec601, rec709"):
        Colorizer(model, backend="onnxruntime", gray_from="luma")


def test_gray_from_applies_to_gray_photos_only(model):
    """A colour photo keeps its own lightness whatever gray_from says; a gray one takes the formula asked for."""
    colour, gray = photo(64, 80), photo(64, 80)[:, :, 0]
    with Colorizer(model, backend="onnxruntime", size=SIZE, gray_from="rec709") as colorizer:
        assert colorizer.prepare(colour).gray_formula == "lightness"
        assert colorizer.prepare(gray).gray_formula == "rec709"
        assert colorizer.prepare(gray[:, :, None]).gray_formula == "rec709"
        assert colorizer.prepare(np.dstack([gray, gray, gray])).gray_formula == "rec709"  # gray saved as RGB


def test_default_model_is_the_shipped_one(model, monkeypatch):
    import msau.runtime.models as models

    asked = []

    def shipped(suffix=".onnx", name="msau-tiny"):
        asked.append(suffix)
        return model.with_suffix(suffix)

    monkeypatch.setattr(models, "shipped_model", shipped)
    with Colorizer(backend="onnxruntime", size=SIZE) as c:
        assert c.backend.model_path == model
    with Colorizer(backend="torch", size=SIZE) as c:
        assert c.backend.checkpoint == model.with_suffix(".safetensors")
    assert asked == [".onnx", ".safetensors"]


def test_torch_backend_given_onnx_uses_the_checkpoint_beside_it(colorizer, model):
    image = photo(37, 53)
    with Colorizer(model, backend="torch", size=SIZE) as by_torch:
        assert by_torch.backend.checkpoint == model.with_suffix(".safetensors")
        assert np.abs(by_torch(image).astype(int) - colorizer(image)).max() <= 1


def test_auto_runs_here(model, colorizer):
    image = photo(37, 53)
    with Colorizer(model, size=SIZE, threads=1) as chosen:
        assert chosen.backend.name in ("tensorrt", "onnxruntime", "openvino")
        result = chosen(image)
    # Whatever auto chose (bf16 included), the picture is the fp32 one to within a few levels.
    assert np.abs(result.astype(int) - colorizer(image)).mean() < 2.0


def test_import_msau_colorizer_without_torch():
    code = (
        "import sys, msau; from msau import Colorizer; import msau.runtime.cli, msau.runtime.backends.auto;"
        "assert Colorizer.__name__ == 'Colorizer'; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="module 'msau' has no attribute 'Nope'"):
        import msau

        _ = msau.Nope


def test_tensorrt_backend_looks_for_the_exported_engine(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="m.onnx: no TensorRT engine for fp16 beside it; build one"):
        Colorizer(model, backend="tensorrt", precision="fp16")


def test_bicubic_upsampling_only_changes_enlarging():
    rng = np.random.default_rng(5)
    ab = (rng.random((2, 16, 16)).astype(np.float32) - 0.5) * 0.6
    large, small = np.full((40, 40), 50.0, np.float32), np.full((8, 8), 50.0, np.float32)
    assert not np.array_equal(decode(ab, large, "bicubic"), decode(ab, large, "bilinear"))
    np.testing.assert_array_equal(decode(ab, small, "bicubic"), decode(ab, small, "bilinear"))  # area when shrinking
