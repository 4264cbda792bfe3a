"""Checkpoints: safetensors + JSON config (+ training info, optimizer moments); identical outputs; no pickle."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from msau.model import checkpoint
from msau.model.checkpoint import load_checkpoint, load_optimizer_state, read_checkpoint_metadata, save_checkpoint
from msau.model.config import ModelConfig, get_config
from msau.model.network import MSAUNet


@pytest.fixture
def trained_model(tiny_widths: tuple[int, ...]) -> MSAUNet:
    """A tiny model whose weights and BatchNorm statistics differ from a fresh one (one training pass)."""
    torch.manual_seed(3)
    model = MSAUNet(get_config("tiny", widths=tiny_widths, attention_ratio=4)).train()
    model(torch.rand(2, 4, 32, 32))  # moves the running statistics
    return model.eval()


@torch.no_grad()
def test_save_then_load_gives_identical_outputs(tmp_path: Path, trained_model: MSAUNet) -> None:
    path = tmp_path / "ckpt" / "model.safetensors"  # the folder is created
    save_checkpoint(path, trained_model, info={"step": 7, "val_psnr": 21.5})
    loaded, info = load_checkpoint(path)
    assert not loaded.training
    assert loaded.config == trained_model.config
    assert info == {"step": 7, "val_psnr": 21.5}
    x = torch.rand(2, 4, 32, 48)
    assert torch.equal(loaded(x), trained_model(x))
    for name, tensor in trained_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_file_is_plain_safetensors_with_metadata(tmp_path: Path, trained_model: MSAUNet) -> None:
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, trained_model, info={"step": 1})
    raw = path.read_bytes()
    # safetensors layout: u64 little-endian header length, then a JSON header, then raw tensor bytes.
    (header_length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_length])
    assert header["__metadata__"][checkpoint.CONFIG_KEY] == trained_model.config.to_json()
    assert not raw.startswith(b"PK") and not raw.startswith(b"\x80")  # neither torch's zip nor a bare pickle
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        keys = set(handle.keys())
    assert ModelConfig.from_dict(json.loads(metadata[checkpoint.CONFIG_KEY])) == trained_model.config
    assert json.loads(metadata[checkpoint.INFO_KEY]) == {"step": 1}
    assert keys == set(trained_model.state_dict())
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temp file left behind


def test_read_metadata_without_weights(tmp_path: Path, trained_model: MSAUNet) -> None:
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, trained_model)
    config, info = read_checkpoint_metadata(path)
    assert config == trained_model.config
    assert info == {}


def test_optimizer_moments_round_trip(tmp_path: Path, trained_model: MSAUNet) -> None:
    model = trained_model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.rand(2, 4, 32, 32)).square().mean().backward()
        optimizer.step()
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, model, {"step": 2}, optimizer)
    restored_model, _ = load_checkpoint(path)
    restored = torch.optim.Adam(restored_model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    load_optimizer_state(path, restored)
    original_state, restored_state = optimizer.state_dict()["state"], restored.state_dict()["state"]
    assert original_state.keys() == restored_state.keys() and len(original_state) == len(list(model.parameters()))
    for index, state in original_state.items():
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(torch.as_tensor(restored_state[index][name]), torch.as_tensor(state[name])), (index, name)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.safetensors: no such checkpoint"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_safetensors_file_not_written_by_msau(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"foreign\.safetensors: checkpoint has no 'msau_model_config' metadata; was it written by msau\?"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"definitely not a checkpoint", b"\x80\x04\x95pickle"])
def test_garbage_file_is_not_a_checkpoint(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"model\.pt: not a safetensors checkpoint"):
        load_checkpoint(path)


def test_torch_pickle_is_refused(tmp_path: Path, trained_model: MSAUNet) -> None:
    path = tmp_path / "legacy.pth"
    torch.save(trained_model.state_dict(), path)
    with pytest.raises(ValueError, match=r"legacy\.pth: not a safetensors checkpoint"):
        load_checkpoint(path)
