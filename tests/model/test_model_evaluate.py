"""python -m msau.model.evaluate: the validation table, averaged over hint seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from msau.model.checkpoint import save_checkpoint
from msau.model.config import PRESETS, get_config
from msau.model.data import load_folder
from msau.model.evaluate import HintSetting, evaluate, evaluate_over_seeds, main, score
from msau.model.network import MSAUNet
from msau.runtime.encoding import center_crop


@pytest.fixture(scope="module")
def checkpoint_and_photos(
    tmp_path_factory: pytest.TempPathFactory, make_image: Callable, save_png: Callable, tiny_widths: tuple[int, ...]
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    for i in range(2):
        save_png(root / "photos" / f"{i}.png", make_image(64, 80, seed=30 + i))
    torch.manual_seed(0)
    preset = min(PRESETS, key=lambda name: sum(PRESETS[name].widths))
    save_checkpoint(root / "model.safetensors", MSAUNet(get_config(preset, widths=tiny_widths)), {"step": 0})
    return root / "model.safetensors", root / "photos"


def test_figures_are_the_mean_over_the_seeds(checkpoint_and_photos: tuple[Path, Path]) -> None:
    from msau.model.checkpoint import load_checkpoint

    weights, photos = checkpoint_and_photos
    model, _ = load_checkpoint(weights)
    references = [center_crop(image, 64) for image in load_folder(photos)]
    single = [evaluate(model, references, 0.01, seed, refine=True) for seed in (0, 100)]
    assert single[0].psnr != single[1].psnr  # other hints, other figures
    mean = evaluate_over_seeds(model, references, 0.01, [0, 100], refine=True)
    assert mean.psnr == pytest.approx((single[0].psnr + single[1].psnr) / 2, abs=1e-9)
    assert mean.ssim == pytest.approx((single[0].ssim + single[1].ssim) / 2, abs=1e-9)
    assert mean.images == 2


def test_network_and_served_figures_come_from_one_pass(checkpoint_and_photos: tuple[Path, Path]) -> None:
    from msau.model.checkpoint import load_checkpoint

    weights, photos = checkpoint_and_photos
    model, _ = load_checkpoint(weights)
    references = [center_crop(image, 64) for image in load_folder(photos)]
    scores = score(model, references, HintSetting(ratio=0.01), seed=7)
    assert scores.network.psnr == pytest.approx(evaluate(model, references, 0.01, 7).psnr, abs=1e-9)
    assert scores.served.psnr == pytest.approx(evaluate(model, references, 0.01, 7, refine=True).psnr, abs=1e-9)
    # An untrained network predicts about gray; the hints' colours spread by the runtime must beat it.
    assert scores.served.psnr > scores.network.psnr + 0.5


def test_clicks_are_a_hint_setting(checkpoint_and_photos: tuple[Path, Path]) -> None:
    from msau.model.checkpoint import load_checkpoint

    weights, photos = checkpoint_and_photos
    model, _ = load_checkpoint(weights)
    references = [center_crop(image, 64) for image in load_folder(photos)]
    assert len(HintSetting(clicks=10).draw(references[0], 0)) == 10
    assert HintSetting(clicks=10).label == "10 clicks" and HintSetting(ratio=0.005, grid=True).label == "0.5% + 7x7"
    few, many = (score(model, references, HintSetting(clicks=n)).served.psnr for n in (1, 50))
    assert many > few
    with pytest.raises(ValueError, match="not both"):
        HintSetting(ratio=0.01, clicks=3)


def test_cli_prints_one_row_per_setting(
    checkpoint_and_photos: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    weights, photos = checkpoint_and_photos
    code = main([str(weights), str(photos), "--size", "64", "--ratios", "0.005,0.01", "--clicks", "5", "--grid",
                 "--seeds", "0,100"])
    assert code == 0
    rows = [line.split(" | ")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "dB" not in line]
    assert rows == ["| 0.5%", "| 0.5% + 7x7", "| 1%", "| 1% + 7x7", "| 5 clicks"]


def test_cli_rejects_seeds_that_are_not_numbers(
    checkpoint_and_photos: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    weights, photos = checkpoint_and_photos
    with pytest.raises(SystemExit) as exit_info:
        main([str(weights), str(photos), "--seeds", "0,x"])
    assert exit_info.value.code == 2
    assert "--seeds, --ratios and --clicks take comma-separated numbers, got '0,x'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--ratios", "2"], "(hint ratios must be in [0, 1] and clicks at least 0, got ratio 2.0 and 0 clicks)"),
        (["--size", "100"], "argument --size: must be a multiple of 16 (four 2x2 poolings), got 100"),
    ],
)
def test_cli_rejects_settings_it_cannot_score(
    checkpoint_and_photos: tuple[Path, Path], capsys: pytest.CaptureFixture, option: list[str], message: str
) -> None:
    weights, photos = checkpoint_and_photos
    with pytest.raises(SystemExit) as exit_info:
        main([str(weights), str(photos), *option])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
