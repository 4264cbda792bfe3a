"""Fixtures of the export tests: tiny checkpoints with non-trivial outputs, their ONNX exports, photo-like inputs.

Exports are made once per session (tmp_path_factory) and only read by the tests: an export takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_WIDTHS = (4, 8, 16, 32, 64)
SIZE = 64  # verification side: every test image is encoded at 64x64


def make_tiny_model(seed: int = 0):
    """A tiny MSAU-Net whose BatchNorms hold random statistics, so that its outputs vary with the input
    (fresh BatchNorms are identities and a fresh network's output is nearly constant)."""
    import torch

    from msau.model.network import create_model

    torch.manual_seed(seed)
    model = create_model("tiny", widths=TINY_WIDTHS)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.2)
                module.running_var.uniform_(0.3, 1.5)
                module.weight.uniform_(0.6, 1.6)
                module.bias.normal_(0.0, 0.2)
    return model.eval()


def make_large_activation_model(first: float = 300.0, second: float = 3e5):
    """The tiny model with the first encoder's small-kernel branch scaled up (x first, then x second) and the
    fusing 1x1 convolution scaled down to match.

    Every BatchNorm is adjusted so that the FP32 function is unchanged (ReLU is positively homogeneous), but
    that branch's activations reach ~3e5 and overflow FP16 (max 65504), while every weight stays inside FP16's
    range: the FP16 gate must refuse this model because of its activations alone.
    """
    import torch

    model = make_tiny_model()
    encoder = model.encoders[0]
    bn1, bn2 = encoder.small[0][1], encoder.small[1][1]
    with torch.no_grad():
        bn1.weight.mul_(first)  # activation 1 becomes x first
        bn1.bias.mul_(first)
        bn2.running_mean.mul_(first)  # the next conv sees x first: renormalise exactly
        bn2.running_var.mul_(first**2)
        bn2.weight.mul_(second)  # activation 2 becomes x second
        bn2.bias.mul_(second)
        width = bn2.num_features
        encoder.fuse[0].weight[:, :width].div_(second)  # the small branch comes first in the concatenation
    return model


@pytest.fixture(scope="session")
def make_tiny():
    """Factory: make_tiny(seed=0) -> a tiny MSAU-Net with random BatchNorm statistics, in eval mode."""
    return make_tiny_model


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from msau.model.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("checkpoints") / "tiny.safetensors"
    save_checkpoint(path, make_tiny_model())
    return path


@pytest.fixture(scope="session")
def large_activation_checkpoint(tmp_path_factory) -> Path:
    from msau.model.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("checkpoints") / "loud.safetensors"
    save_checkpoint(path, make_large_activation_model())
    return path


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """(model, path of its FP32 ONNX export)."""
    from msau.export.onnx_export import export_model

    model = make_tiny_model()
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_model(model, path, size=SIZE)
    return model, path


@pytest.fixture(scope="session")
def tiny_fp16(tiny_export, tmp_path_factory):
    """(FP16 ModelProto, Fp16Conversion, path) of the tiny export, converted with the default block list."""
    import onnx

    from msau.export.fp16 import convert_fp16
    from msau.export.onnx_export import save_onnx

    converted, conversion = convert_fp16(onnx.load(str(tiny_export[1])))
    path = save_onnx(converted, tmp_path_factory.mktemp("onnx16") / "tiny.fp16.onnx")
    return converted, conversion, path


@pytest.fixture(scope="session")
def photos():
    """Three photo-like RGB images of different sizes and aspect ratios."""
    from msau.export.samples import smooth_images

    return smooth_images(2, 48, 64, seed=1) + smooth_images(1, 80, 48, seed=2)


@pytest.fixture(scope="session")
def verification(photos):
    from msau.export.samples import verification_set

    return verification_set(photos, SIZE, "test photos")
