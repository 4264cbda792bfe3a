"""Training smoke test: a very narrow MSAU-Net learns on generated photos, checkpoints reload, --resume continues."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from msau.model.checkpoint import load_checkpoint, read_checkpoint_metadata
from msau.model.cli import build_parser, main as train_main
from msau.model.config import PRESETS
from msau.model.evaluate import evaluate
from msau.model.served_loss import served_log_mse
from msau.model.train import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    LOG_FILE,
    Precision,
    StepReport,
    TrainConfig,
    Trainer,
    resolve_amp,
)

STEPS = 30


def smallest_preset() -> str:
    return min(PRESETS, key=lambda name: sum(PRESETS[name].widths))


@pytest.fixture(scope="module")
def photo_folders(
    tmp_path_factory: pytest.TempPathFactory, make_image: Callable, save_png: Callable
) -> tuple[Path, Path]:
    """(train, val): four and two colourful generated PNG photos."""
    root = tmp_path_factory.mktemp("data")
    for i in range(4):
        save_png(root / "train" / f"{i}.png", make_image(96, 128, seed=i))
    for i in range(2):
        save_png(root / "val" / f"{i}.png", make_image(80, 80, seed=10 + i))
    return root / "train", root / "val"


@pytest.fixture(scope="module")
def smoke_config(photo_folders: tuple[Path, Path], tiny_widths: tuple[int, ...]) -> Callable[..., TrainConfig]:
    """smoke_config(out, steps=STEPS): the smallest preset, narrowed, on the generated photos."""
    train, val = photo_folders

    def make(out: Path, steps: int = STEPS) -> TrainConfig:
        return TrainConfig(
            data=str(train), val=str(val), out=str(out), preset=smallest_preset(), widths=tiny_widths, steps=steps,
            batch_size=4, crop=64, lr=2e-3, lr_schedule="constant", val_every=STEPS, save_every=10, val_size=64,
            seed=0, device="cpu", amp=False,
        )

    return make


@pytest.fixture(scope="module")
def trained_run(smoke_config: Callable[..., TrainConfig], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One 30-step run shared by the tests below (the expensive part, done once)."""
    out = tmp_path_factory.mktemp("run")
    trainer = Trainer(smoke_config(out))
    reports: list[StepReport] = []
    validation = trainer.run(reports.append)
    return {"trainer": trainer, "reports": reports, "validation": validation, "out": out}


def test_loss_falls(trained_run: dict) -> None:
    losses = [report.loss for report in trained_run["reports"]]
    assert len(losses) == STEPS and all(math.isfinite(loss) for loss in losses)
    first, last = float(np.mean(losses[:5])), float(np.mean(losses[-5:]))
    assert last < first, (first, last)


def test_reports_and_validation(trained_run: dict) -> None:
    reports, validation = trained_run["reports"], trained_run["validation"]
    assert [r.step for r in reports] == list(range(1, STEPS + 1))
    assert all(r.crop == 64 and r.images_per_second > 0 and r.lr == 2e-3 for r in reports)
    assert validation is not None and validation.images == 2
    # Saturated generated photos: even a gray result scores only about 10 dB; 30 steps barely move that.
    assert 5.0 < validation.psnr < 60.0 and 0.0 < validation.ssim <= 1.0
    assert reports[-1].validation == validation and reports[-1].best_psnr == pytest.approx(validation.psnr)
    log = [json.loads(line) for line in (trained_run["out"] / LOG_FILE).read_text(encoding="utf-8").splitlines()]
    assert log[-1]["step"] == STEPS and log[-1]["val_psnr"] == pytest.approx(validation.psnr)


@torch.no_grad()
def test_last_checkpoint_reloads_to_identical_outputs(trained_run: dict, tiny_widths: tuple[int, ...]) -> None:
    trainer: Trainer = trained_run["trainer"]
    model, info = load_checkpoint(trained_run["out"] / LAST_CHECKPOINT)
    assert model.config == trainer.model.config and model.config.widths == tiny_widths
    assert info["step"] == STEPS
    assert info["train_config"]["widths"] == list(tiny_widths)
    assert info["val_psnr"] == pytest.approx(trained_run["validation"].psnr)
    live = trainer.model.eval()
    for name, tensor in live.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    x = torch.rand(2, 4, 64, 64).contiguous(memory_format=trainer.memory_format)
    assert torch.equal(model.to(memory_format=trainer.memory_format)(x), live(x))
    live.train()


def test_best_checkpoint_is_the_validated_one(trained_run: dict, tiny_widths: tuple[int, ...]) -> None:
    model, info = load_checkpoint(trained_run["out"] / BEST_CHECKPOINT)
    assert model.config.widths == tiny_widths
    again = evaluate(model, trained_run["trainer"].val_images, ratio=0.005, seed=0, refine=True)
    # The trainer's copy runs channels_last: float rounding differs in the last bits, and the propagation's
    # iterations carry that a little further.
    assert again.psnr == pytest.approx(trained_run["validation"].psnr, abs=1e-4)
    assert again.ssim == pytest.approx(trained_run["validation"].ssim, abs=1e-5)
    assert info["val_psnr"] == pytest.approx(trained_run["validation"].psnr)
    assert info["best_psnr"] == pytest.approx(trained_run["validation"].psnr)


def test_resume_continues_from_the_saved_step(
    trained_run: dict, smoke_config: Callable[..., TrainConfig], tmp_path: Path
) -> None:
    # Resume a copy of the finished run to 40 steps, and compare with a straight 40-step run from scratch.
    resumed_out = tmp_path / "resumed"
    resumed_out.mkdir()
    for name in (LAST_CHECKPOINT, BEST_CHECKPOINT):
        (resumed_out / name).write_bytes((trained_run["out"] / name).read_bytes())
    config = dataclasses.replace(smoke_config(resumed_out, steps=STEPS + 10), val_every=1000)
    resumed = Trainer(config, resume=True)
    assert resumed.step == STEPS
    assert resumed.best_psnr == pytest.approx(trained_run["validation"].psnr)
    live_state = trained_run["trainer"].optimizer.state_dict()["state"]
    loaded_state = resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(loaded_state[i]["exp_avg"], live_state[i]["exp_avg"]) for i in live_state)
    steps_seen = []
    resumed.run(lambda report: steps_seen.append(report.step))
    assert steps_seen == list(range(STEPS + 1, STEPS + 11))
    _, info = read_checkpoint_metadata(resumed_out / LAST_CHECKPOINT)
    assert info["step"] == STEPS + 10

    straight = Trainer(dataclasses.replace(config, out=str(tmp_path / "straight")))
    straight.run()
    for name, tensor in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, atol=1e-5, rtol=1e-4, msg=name)


def test_init_fine_tunes_from_a_checkpoint(
    trained_run: dict, smoke_config: Callable[..., TrainConfig], tmp_path: Path
) -> None:
    source = trained_run["out"] / LAST_CHECKPOINT
    config = dataclasses.replace(smoke_config(tmp_path / "tuned", steps=3), init=str(source), val_every=1000)
    tuned = Trainer(config)
    assert tuned.step == 0 and not tuned.optimizer.state_dict()["state"]  # fresh optimizer and schedule
    for name, tensor in trained_run["trainer"].model.state_dict().items():
        assert torch.equal(tuned.model.state_dict()[name], tensor), name
    tuned.run()
    _, info = read_checkpoint_metadata(tmp_path / "tuned" / LAST_CHECKPOINT)
    assert info["step"] == 3 and info["train_config"]["init"] == str(source)


def test_cli_empty_data_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    code = train_main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--steps", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("msau-train: error: ")
    assert f"{tmp_path / 'empty'}: no images found" in err
    assert not (tmp_path / "out").exists()


def test_cli_console_script_reports_usage_errors(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "msau-train"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "msau.model.cli"]
    result = subprocess.run(
        command + ["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "msau-train: error:" in result.stderr and "missing: not a folder of images" in result.stderr
    usage = subprocess.run(command + ["--preset", "nope"], capture_output=True, text=True, timeout=300)
    assert usage.returncode == 2 and "invalid choice: 'nope'" in usage.stderr


def test_cli_trains_and_resumes(photo_folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train, val = photo_folders
    out = tmp_path / "cli"
    common = ["--data", str(train), "--out", str(out), "--preset", smallest_preset(), "--batch-size", "2",
              "--crop", "64", "--save-every", "100", "--val-every", "100", "--threads", "1"]
    assert train_main(common + ["--steps", "2"]) == 0
    first = capsys.readouterr()
    assert "4 training images, 0 validation images" in first.err and "starting at step 0/2" in first.err
    assert resolve_amp(None, torch.device("cpu")).reason in first.err  # bf16 autocast or float32, by the CPU
    assert "done, 2 steps" in first.out
    assert read_checkpoint_metadata(out / LAST_CHECKPOINT)[1]["step"] == 2
    assert not (out / BEST_CHECKPOINT).exists()  # no validation folder, no best model

    assert train_main(common + ["--steps", "3", "--resume", "--val", str(val), "--no-amp"]) == 0
    second = capsys.readouterr()
    assert "2 validation images" in second.err and "starting at step 2/3" in second.err
    assert "msau-train: float32, as asked" in second.err
    assert "step 3: val PSNR" in second.out
    _, info = read_checkpoint_metadata(out / LAST_CHECKPOINT)
    assert info["step"] == 3 and info["train_config"]["preset"] == smallest_preset()
    assert info["autocast"] is False and info["train_config"]["amp"] is False
    assert (out / BEST_CHECKPOINT).exists()


def test_cli_stop_at_keeps_the_schedule_and_resumes(photo_folders: tuple[Path, Path], tmp_path: Path) -> None:
    train, _ = photo_folders
    out = tmp_path / "stopped"
    common = ["--data", str(train), "--out", str(out), "--preset", smallest_preset(), "--batch-size", "2",
              "--crop", "64", "--save-every", "100", "--val-every", "100", "--threads", "1", "--steps", "4"]
    assert train_main(common + ["--stop-at", "2"]) == 0
    _, info = read_checkpoint_metadata(out / LAST_CHECKPOINT)
    assert info["step"] == 2 and info["train_config"]["steps"] == 4
    assert train_main(common + ["--resume"]) == 0
    assert read_checkpoint_metadata(out / LAST_CHECKPOINT)[1]["step"] == 4


def test_autocast_where_it_pays_unless_asked() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    native = resolve_amp(None, cpu, native_bf16=lambda: True)
    emulated = resolve_amp(None, cpu, native_bf16=lambda: False)
    assert native.autocast and native.reason == "bf16 autocast: this CPU computes bf16 natively (AVX512-BF16 or AMX)"
    assert not emulated.autocast and emulated.reason.startswith("float32: this CPU has no native bf16")
    assert resolve_amp(True, cpu, native_bf16=lambda: False) == Precision(True, "bf16 autocast, as asked")
    assert resolve_amp(False, cpu, native_bf16=lambda: True) == Precision(False, "float32, as asked")
    assert resolve_amp(None, cuda, native_bf16=lambda: False) == Precision(True, "fp16 autocast on the GPU")


def test_the_amp_flags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = build_parser()
    common = ["--data", "d", "--out", "o"]
    assert [parser.parse_args(common + flags).amp for flags in ([], ["--amp"], ["--no-amp"])] == [None, True, False]
    assert train_main(common + ["--amp", "--no-amp"]) == 2
    assert "argument --no-amp: not allowed with argument --amp" in capsys.readouterr().err


def test_help_gives_each_default_once(capsys: pytest.CaptureFixture) -> None:
    assert train_main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal's width
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "torch CPU threads (default: torch's choice) --init" in text  # the help's own default, not a second one
    assert "crops per optimizer step (default: 8)" in text and "Adam's beta1 (default: 0.5)" in text


def test_mixed_precision_steps_run(smoke_config: Callable[..., TrainConfig], tmp_path: Path) -> None:
    # The default path: bf16 autocast on CPU (fp16 + grad scaling on CUDA); the loss stays in float32.
    config = dataclasses.replace(smoke_config(tmp_path / "amp", steps=2), amp=True, val=None)
    trainer = Trainer(config)
    losses: list[float] = []
    trainer.run(lambda report: losses.append(report.loss))
    assert len(losses) == 2 and all(math.isfinite(loss) and 0 < loss < 2 for loss in losses)
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


def test_served_weight_adds_the_served_loss(smoke_config: Callable[..., TrainConfig], tmp_path: Path) -> None:
    config = dataclasses.replace(smoke_config(tmp_path / "served", steps=2), val=None)
    plain, served = Trainer(config), Trainer(dataclasses.replace(config, served_weight=0.5))
    x, y = (torch.from_numpy(a) for a in plain.sampler.batch(4, config.crop, config.seed, 0))
    with torch.no_grad():
        prediction = plain.model(x)
        difference = served.loss(prediction, x, y) - plain.loss(prediction, x, y)
    assert float(difference) == pytest.approx(0.5 * float(served_log_mse(prediction, x, y)), rel=1e-5)
    losses: list[float] = []
    served.run(lambda report: losses.append(report.loss))
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--crop", "17"], "argument --crop: must be a multiple of 16 (four 2x2 poolings), got 17"),
        (["--crop", "100000"], "argument --crop: must be in 16..2048, got 100000"),
        (["--early-crop", "8"], "argument --early-crop: must be in 16..2048, got 8"),
        (["--steps", "0"], "argument --steps: must be at least 1, got 0"),
        (["--lr", "0"], "argument --lr: must be in (0, 1], got 0"),
        (["--beta2", "1"], "argument --beta2: must be in [0, 1), got 1"),
        (["--hue-jitter", "nan"], "argument --hue-jitter: must be in [0, 1], got nan"),
        (["--served-weight", "-1"], "argument --served-weight: must be in [0, 100], got -1"),
        (["--save-every", "-1"], "argument --save-every: must be at least 1, got -1"),
        (["--device", "gpu0"], "argument --device: must be auto, cpu, cuda or cuda:N, got 'gpu0'"),
    ],
)
def test_cli_bad_option_values_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture, option, message) -> None:
    assert train_main(["--data", str(tmp_path), "--out", str(tmp_path / "out"), *option]) == 2
    err = capsys.readouterr().err
    assert f"msau-train: error: {message}" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_out_a_file_and_a_missing_gpu_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    (tmp_path / "file").write_text("x")
    assert train_main(["--data", str(tmp_path), "--out", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err == f"msau-train: error: --out {tmp_path / 'file'} is a file, not a folder\n"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train_main(["--data", str(tmp_path), "--out", str(tmp_path / "out"), "--device", "cuda"]) == 2
    assert capsys.readouterr().err == "msau-train: error: --device cuda: this torch sees no CUDA GPU (use --device cpu or auto)\n"
