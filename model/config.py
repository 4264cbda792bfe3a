"""MSAU-Net configuration: a frozen dataclass with named presets."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from msau.runtime.contract import INPUT_CHANNELS, OUTPUT_CHANNELS


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes the network; stored beside the weights in every checkpoint."""

    widths: tuple[int, ...] = (32, 64, 128, 256, 512)  # encoder widths, one per level
    small_kernel: int = 3  # kernel of the first conv-fusion branch
    large_kernel: int = 7  # kernel of the second conv-fusion branch
    attention_ratio: int = 16  # channel-attention MLP reduction (CBAM)
    spatial_kernel: int = 7  # spatial-attention conv kernel (CBAM)
    in_channels: int = INPUT_CHANNELS
    out_channels: int = OUTPUT_CHANNELS

    def __post_init__(self) -> None:
        if len(self.widths) < 2:
            raise ValueError(f"widths needs at least two levels, got {self.widths}")
        if any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be positive, got {self.widths}")
        for name in ("small_kernel", "large_kernel", "spatial_kernel"):
            if getattr(self, name) % 2 == 0:
                raise ValueError(f"{name} must be odd, got {getattr(self, name)}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))

    @property
    def downsampling(self) -> int:
        """The factor that H and W must be a multiple of."""
        return 2 ** (len(self.widths) - 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @staticmethod
    def from_dict(data: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(ModelConfig)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        values = dict(data)
        if "widths" in values:
            values["widths"] = tuple(values["widths"])
        return ModelConfig(**values)


PRESETS: dict[str, ModelConfig] = {
    # The original MSAU-Net (about 47M parameters).
    "base": ModelConfig(),
    # CPU presets: same architecture, narrower.
    "small": ModelConfig(widths=(16, 32, 64, 128, 256)),
    "tiny": ModelConfig(widths=(8, 16, 32, 64, 128)),
}


def get_config(preset: str, **overrides) -> ModelConfig:
    """The preset's config with fields replaced by ``overrides``; ValueError naming the presets if unknown."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **overrides)
