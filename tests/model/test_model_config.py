"""ModelConfig: presets, overrides, validation and the dict/JSON round trip stored in checkpoints."""

from __future__ import annotations

import dataclasses
import json

import pytest

from msau.model.config import PRESETS, ModelConfig, get_config


def test_base_preset_is_the_original() -> None:
    base = get_config("base")
    assert base.widths == (32, 64, 128, 256, 512)
    assert (base.small_kernel, base.large_kernel) == (3, 7)
    assert (base.attention_ratio, base.spatial_kernel) == (16, 7)
    assert (base.in_channels, base.out_channels) == (4, 2)
    assert base.downsampling == 16


def test_presets_are_narrower_versions_of_base() -> None:
    assert {"base", "small", "tiny"} <= set(PRESETS)
    for name, config in PRESETS.items():
        assert len(config.widths) == 5, name
        assert config.downsampling == 16, name
        assert config.widths[0] <= PRESETS["base"].widths[0], name


def test_overrides_replace_fields_without_touching_the_preset() -> None:
    config = get_config("tiny", widths=[4, 8, 16, 32, 64], attention_ratio=8)
    assert config.widths == (4, 8, 16, 32, 64)  # a list becomes the frozen tuple
    assert config.attention_ratio == 8
    assert config.large_kernel == PRESETS["tiny"].large_kernel
    assert PRESETS["tiny"].widths == (8, 16, 32, 64, 128)
    assert get_config("tiny", widths=(4, 8, 16)).downsampling == 4


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_config("base").widths = (1, 2)  # type: ignore[misc]


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown preset 'huge'; choose one of base, small, tiny"):
        get_config("huge")


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(TypeError, match="depth"):
        get_config("tiny", depth=3)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"widths": (8,)}, "widths needs at least two levels"),
        ({"widths": (8, 0, 16)}, "widths must be positive"),
        ({"small_kernel": 4}, "small_kernel must be odd, got 4"),
        ({"large_kernel": 6}, "large_kernel must be odd, got 6"),
        ({"spatial_kernel": 2}, "spatial_kernel must be odd, got 2"),
    ],
)
def test_invalid_fields_are_rejected(fields: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ModelConfig(**fields)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_dict_and_json_round_trip(name: str) -> None:
    config = get_config(name, attention_ratio=4)
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert ModelConfig.from_dict(json.loads(config.to_json())) == config
    assert json.loads(config.to_json())["widths"] == list(config.widths)


def test_from_dict_rejects_unknown_keys() -> None:
    data = get_config("tiny").to_dict() | {"dropout": 0.1, "act": "relu"}
    with pytest.raises(ValueError, match=r"unknown model config keys: \['act', 'dropout'\]"):
        ModelConfig.from_dict(data)


def test_from_dict_fills_missing_keys_with_defaults() -> None:
    assert ModelConfig.from_dict({"widths": [16, 32]}) == ModelConfig(widths=(16, 32))
