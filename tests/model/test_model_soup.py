"""Model soups: the mean of checkpoints' weights, batch-norm statistics measured again as cumulative averages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from msau.model.checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from msau.model.config import get_config
from msau.model.network import MSAUNet
from msau.model.soup import average_weights, main, measure_batch_norm


def _model(widths: tuple[int, ...], seed: int, **overrides) -> MSAUNet:
    torch.manual_seed(seed)
    model = MSAUNet(get_config("tiny", widths=widths, **overrides)).train()
    model(torch.rand(2, 4, 32, 32))  # running statistics of its own
    return model.eval()


def test_the_soup_holds_the_mean_of_every_weight_and_statistic(tiny_widths):
    models = [_model(tiny_widths, seed) for seed in (1, 2, 3)]
    states = [{name: tensor.clone() for name, tensor in model.state_dict().items()} for model in models]
    soup = average_weights(models)
    for name, tensor in soup.state_dict().items():
        if tensor.is_floating_point():
            expected = (states[0][name] + states[1][name] + states[2][name]) / 3
            torch.testing.assert_close(tensor, expected, rtol=1e-6, atol=1e-7)
        else:  # batch-norm step counts
            assert int(tensor) == max(int(state[name]) for state in states), name


def test_checkpoints_of_different_models_are_refused(tiny_widths):
    with pytest.raises(ValueError, match="different model configs"):
        average_weights([_model(tiny_widths, 1), _model(tiny_widths, 2, attention_ratio=4)])
    with pytest.raises(ValueError, match="no checkpoints"):
        average_weights([])


class _Batches:
    """A sampler of fixed batches: batch(b, crop, seed, step) -> (x (b, 4, crop, crop), target)."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.batches = [rng.normal(step, 1.0 + step, (3, 4, 5, 5)).astype(np.float32) for step in range(4)]

    def batch(self, batch_size: int, crop: int, seed: int, step: int) -> tuple[np.ndarray, None]:
        return self.batches[step], None


def test_batch_norm_statistics_become_the_average_over_the_batches():
    layer = torch.nn.BatchNorm2d(4)
    layer.running_mean.fill_(7.0)  # stale statistics, to be replaced
    model = torch.nn.Sequential(layer)
    sampler = _Batches(seed=0)
    ticks = []
    measured = measure_batch_norm(model, sampler, batches=4, batch_size=3, crop=5, seed=0, on_batch=lambda: ticks.append(1))
    assert not measured.training and len(ticks) == 4
    stacked = np.stack(sampler.batches)  # (4 batches, 3, 4 channels, 5, 5)
    batch_means = stacked.mean(axis=(1, 3, 4))  # (4, channels)
    batch_variances = stacked.transpose(0, 2, 1, 3, 4).reshape(4, 4, -1).var(axis=2, ddof=1)  # unbiased, as torch
    np.testing.assert_allclose(layer.running_mean.numpy(), batch_means.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var.numpy(), batch_variances.mean(axis=0), rtol=1e-4)
    assert int(layer.num_batches_tracked) == 4 and layer.momentum == 0.1


def test_the_command_writes_a_soup_that_loads(tmp_path: Path, tiny_widths, image_folder: Path, capsys):
    paths = []
    for seed in (1, 2):
        paths.append(tmp_path / f"model{seed}.safetensors")
        save_checkpoint(paths[-1], _model(tiny_widths, seed), {"step": seed})
    out = tmp_path / "soup.safetensors"
    assert main([str(out), *map(str, paths), "--data", str(image_folder), "--batches", "2", "--batch-size", "2", "--crop", "32"]) == 0
    soup, info = load_checkpoint(out)
    assert soup.config == read_checkpoint_metadata(paths[0])[0]
    assert info["soup_of"] == [str(p) for p in paths] and info["batch_norm"]["batches"] == 2
    assert f"wrote {out}" in capsys.readouterr().out
    assert torch.isfinite(soup(torch.rand(1, 4, 32, 32))).all()

    assert main([str(tmp_path / "x.safetensors"), str(tmp_path / "missing.safetensors"), "--data", str(image_folder)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.safetensors'}: no such checkpoint"


def test_a_crop_the_network_cannot_take_is_a_usage_error(tmp_path: Path, image_folder: Path, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path / "x.safetensors"), str(tmp_path / "a.safetensors"), "--data", str(image_folder), "--crop", "40"])
    assert exited.value.code == 2
    assert "argument --crop: must be a multiple of 16 (four 2x2 poolings), got 40" in capsys.readouterr().err
