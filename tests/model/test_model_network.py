"""MSAU-Net: parameter count of the original, output shapes of every preset, size errors, building blocks."""

from __future__ import annotations

import pytest
import torch

import msau.model
from msau.model.config import PRESETS, get_config
from msau.model.network import ConvFusion, MSAUNet, SkipGate, count_gflops, count_parameters, create_model
from msau.runtime import contract

ORIGINAL_PARAMETERS = 47e6


def test_public_api_is_reachable_from_the_package() -> None:
    assert msau.model.create_model is create_model
    assert msau.model.MSAUNet is MSAUNet
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        msau.model.nonsense  # noqa: B018


def test_base_has_the_original_parameter_count() -> None:
    parameters = count_parameters(create_model("base"))
    assert abs(parameters - ORIGINAL_PARAMETERS) / ORIGINAL_PARAMETERS < 0.05, parameters


def test_presets_shrink_in_order() -> None:
    counts = {name: count_parameters(create_model(name)) for name in PRESETS}
    ordered = sorted(counts, key=counts.get, reverse=True)
    assert ordered[0] == "base"
    # Halving every width divides the (mostly conv) parameter count by about 4.
    assert 3.5 < counts["base"] / counts["small"] < 4.5
    assert 3.5 < counts["small"] / counts["tiny"] < 4.5


@pytest.mark.parametrize("preset", sorted(PRESETS))
@torch.no_grad()
def test_output_shape_for_each_preset(preset: str) -> None:
    torch.manual_seed(0)
    model = create_model(preset).eval()
    height, width = (32, 32) if preset == "base" else (32, 48)
    x = torch.rand(2, contract.INPUT_CHANNELS, height, width)
    y = model(x)
    assert y.shape == (2, contract.OUTPUT_CHANNELS, height, width)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(("height", "width"), [(30, 32), (32, 30), (40, 48)])
def test_size_off_the_multiple_is_a_value_error(tiny_model: MSAUNet, height: int, width: int) -> None:
    with pytest.raises(ValueError, match=rf"multiples of 16, got {height}x{width}"):
        tiny_model(torch.zeros(1, 4, height, width))


def test_size_multiple_follows_the_depth() -> None:
    model = create_model("tiny", widths=(4, 8, 16)).eval()  # two poolings: multiples of 4
    with torch.no_grad():
        assert model(torch.zeros(1, 4, 12, 20)).shape == (1, 2, 12, 20)
    with pytest.raises(ValueError, match="multiples of 4, got 10x20"):
        model(torch.zeros(1, 4, 10, 20))


@torch.no_grad()
def test_batch_items_are_independent_in_eval_mode(tiny_model: MSAUNet) -> None:
    torch.manual_seed(1)
    x = torch.rand(3, 4, 32, 48)
    together = tiny_model(x)
    alone = torch.cat([tiny_model(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_export_with_dynamic_batch_and_size_matches_eager(tiny_model: MSAUNet) -> None:
    # What ONNX export does: one graph for any batch and any multiple-of-16 size, no Python branch baked in.
    batch, h, w = torch.export.Dim("batch", max=8), torch.export.Dim("h", max=64), torch.export.Dim("w", max=64)
    program = torch.export.export(
        tiny_model, (torch.rand(2, 4, 32, 32),), dynamic_shapes={"x": {0: batch, 2: 16 * h, 3: 16 * w}}
    )
    x = torch.rand(3, 4, 48, 64)
    torch.testing.assert_close(program.module()(x), tiny_model(x))


def test_architecture_matches_the_original(tiny_widths: tuple[int, ...]) -> None:
    config = get_config("tiny", widths=tiny_widths)
    model = MSAUNet(config)
    assert len(model.encoders) == len(tiny_widths) and len(model.decoders) == len(tiny_widths) - 1
    block = model.encoders[0]
    assert isinstance(block, ConvFusion)
    assert [m.kernel_size for m in block.small.modules() if isinstance(m, torch.nn.Conv2d)] == [(3, 3), (3, 3)]
    assert [m.kernel_size for m in block.large.modules() if isinstance(m, torch.nn.Conv2d)] == [(7, 7), (7, 7)]
    assert block.fuse[0].kernel_size == (1, 1)
    ups = [d.up for d in model.decoders]
    assert all(isinstance(u, torch.nn.ConvTranspose2d) and u.stride == (2, 2) for u in ups)
    assert [u.out_channels for u in ups] == list(reversed(tiny_widths[:-1]))
    assert model.head.kernel_size == (1, 1) and model.head.out_channels == 2


@torch.no_grad()
def test_skip_gate_is_x_times_spatial_times_channel_attention() -> None:
    torch.manual_seed(2)
    gate = SkipGate(32, ratio=16, spatial_kernel=7).eval()
    assert gate.channel.mlp[0].out_channels == 2  # 32 / 16
    x = torch.randn(2, 32, 8, 8)
    spatial = gate.spatial(x)
    channel = gate.channel(x)
    assert spatial.shape == (2, 1, 8, 8) and channel.shape == (2, 32, 1, 1)
    assert 0 < spatial.min() and spatial.max() < 1 and 0 < channel.min() and channel.max() < 1
    torch.testing.assert_close(gate(x), x * spatial * channel)


def test_gflops_scale_with_area(tiny_widths: tuple[int, ...]) -> None:
    config = get_config("tiny", widths=tiny_widths)
    small, large = count_gflops(config, 64, 64), count_gflops(config, 128, 128)
    assert small > 0
    # Everything but the channel-attention MLPs (on pooled 1x1 vectors) scales with H x W.
    assert large / small == pytest.approx(4.0, rel=1e-4)
    assert count_gflops(PRESETS["tiny"], 64, 64) > small
