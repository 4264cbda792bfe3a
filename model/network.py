"""MSAU-Net: a multi-scale attention U-Net for hint-based colorization, as the original project built it."""

from __future__ import annotations

import torch
from torch import nn

from msau.model.config import ModelConfig, get_config


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ConvFusion(nn.Module):
    """Two parallel double-conv branches (small and large kernel), concatenated and fused by a 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, small_kernel: int, large_kernel: int) -> None:
        super().__init__()
        self.small = nn.Sequential(
            conv_bn_relu(in_channels, out_channels, small_kernel), conv_bn_relu(out_channels, out_channels, small_kernel)
        )
        self.large = nn.Sequential(
            conv_bn_relu(in_channels, out_channels, large_kernel), conv_bn_relu(out_channels, out_channels, large_kernel)
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.small(x), self.large(x)], dim=1))


class SpatialAttention(nn.Module):
    """CBAM spatial attention: channel-mean and channel-max maps -> conv -> sigmoid, (N, 1, H, W)."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class ChannelAttention(nn.Module):
    """CBAM channel attention: avg- and max-pooled vectors -> shared MLP -> sum -> sigmoid, (N, C, 1, 1)."""

    def __init__(self, channels: int, ratio: int) -> None:
        super().__init__()
        hidden = max(1, channels // ratio)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        peak = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return torch.sigmoid(avg + peak)


class SkipGate(nn.Module):
    """Gates an encoder feature by its own attention maps: x * SA(x) * CA(x)."""

    def __init__(self, channels: int, ratio: int, spatial_kernel: int) -> None:
        super().__init__()
        self.spatial = SpatialAttention(spatial_kernel)
        self.channel = ChannelAttention(channels, ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.spatial(x) * self.channel(x)


class UpBlock(nn.Module):
    """Transposed-conv upsampling, concatenation with the gated skip, conv fusion."""

    def __init__(self, in_channels: int, out_channels: int, config: ModelConfig) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.gate = SkipGate(out_channels, config.attention_ratio, config.spatial_kernel)
        self.fusion = ConvFusion(2 * out_channels, out_channels, config.small_kernel, config.large_kernel)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fusion(torch.cat([self.up(x), self.gate(skip)], dim=1))


class MSAUNet(nn.Module):
    """(N, 4, H, W) contract input -> (N, 2, H, W) ab/110; H and W multiples of config.downsampling."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.widths
        channels_in = (config.in_channels,) + widths[:-1]
        self.encoders = nn.ModuleList(
            ConvFusion(c_in, c_out, config.small_kernel, config.large_kernel) for c_in, c_out in zip(channels_in, widths)
        )
        self.pool = nn.MaxPool2d(2)
        self.decoders = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], config) for i in reversed(range(len(widths) - 1))
        )
        self.head = nn.Conv2d(widths[0], config.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            multiple = self.config.downsampling
            height, width = x.shape[-2:]
            if height % multiple or width % multiple:
                raise ValueError(f"input height and width must be multiples of {multiple}, got {height}x{width}")
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for decoder in self.decoders:
            x = decoder(x, skips.pop())
        return self.head(x)  # (N, 2, H, W)


def create_model(preset: str = "base", **overrides) -> MSAUNet:
    """An MSAU-Net built from a preset's config with optional field overrides (e.g. widths=(8, 16, 32, 64, 128))."""
    return MSAUNet(get_config(preset, **overrides))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(config: ModelConfig, height: int = 256, width: int = 256) -> float:
    """Multiply-accumulates x 2 of convolutions (the bulk of the work) for one image, in GFLOPs."""
    model = MSAUNet(config)
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            macs = inputs[0].numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
        else:
            kh, kw = module.kernel_size
            macs = output.numel() * (module.in_channels // module.groups) * kh * kw
        total += 2 * macs

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, config.in_channels, height, width))
    for handle in handles:
        handle.remove()
    return total / 1e9
