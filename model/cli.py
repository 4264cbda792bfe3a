"""msau-train: train MSAU-Net on a folder of colour photos.

Exit codes: 0 done (or stopped at --stop-at), 2 usage or setup errors (a bad option value, a missing or empty
data folder, --out a file, a device this machine does not have), 128 + the signal's number when interrupted
(130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; checkpoints are written atomically, --resume goes on).
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

from msau.model.config import PRESETS
from msau.runtime.cli_types import integer, interval, network_side
from msau.model.train import BEST_CHECKPOINT, LAST_CHECKPOINT, StepReport, TrainConfig, Trainer
from msau.runtime.limits import MAX_TRAIN_CROP

EXIT_USAGE = 2
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def _device(text: str) -> str:
    if not DEVICE_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    return text


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" where it tells something: not for flags, options without a value, or help that already
    gives its default in words."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS)) or "default" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig(data="", out="")
    p = argparse.ArgumentParser(
        prog="msau-train",
        description="Train MSAU-Net for hint-based colorization on a folder of colour photos. Writes "
        f"OUT/{LAST_CHECKPOINT} (for --resume), OUT/{BEST_CHECKPOINT} (best validation PSNR) and OUT/log.jsonl.",
        formatter_class=_DefaultsHelp,
    )
    p.add_argument("--data", required=True, help="folder of training photos (JPEG/PNG, searched recursively)")
    p.add_argument(
        "--val",
        help="folder of validation photos: centre 256 crops, 0.5%% hints (seed 0), scored as msau-run delivers them",
    )
    p.add_argument("--out", required=True, help="output folder for checkpoints and the log")
    p.add_argument("--preset", default=defaults.preset, choices=sorted(PRESETS), help="model size")
    p.add_argument("--steps", type=integer(1), default=defaults.steps, help="optimizer steps in total")
    p.add_argument("--batch-size", type=integer(1), default=defaults.batch_size, help="crops per optimizer step")
    p.add_argument(
        "--crop", type=network_side(MAX_TRAIN_CROP), default=defaults.crop, help=f"training crop size (multiple of 16, at most {MAX_TRAIN_CROP})"
    )
    p.add_argument("--early-crop", type=network_side(MAX_TRAIN_CROP), help="smaller crop for the first --early-steps steps (cheaper)")
    p.add_argument("--early-steps", type=integer(0), default=defaults.early_steps, help="steps trained at --early-crop")
    p.add_argument("--early-batch-size", type=integer(1), help="batch size with --early-crop (default: --batch-size)")
    p.add_argument("--lr", type=interval(0, 1, low_open=True), default=defaults.lr, help="Adam learning rate")
    p.add_argument("--beta1", type=interval(0, 1, high_open=True), default=defaults.beta1, help="Adam's beta1")
    p.add_argument("--beta2", type=interval(0, 1, high_open=True), default=defaults.beta2, help="Adam's beta2")
    p.add_argument(
        "--lr-schedule", choices=("cosine", "constant"), default=defaults.lr_schedule,
        help="cosine: decays to 5%% of --lr by --steps; constant: as the original project trained",
    )
    p.add_argument(
        "--ssim-weight", type=interval(0, 1), default=defaults.ssim_weight, help="alpha in alpha*(1-MS-SSIM)+(1-alpha)*L1"
    )
    p.add_argument(
        "--hue-jitter", type=interval(0, 1), default=defaults.hue_jitter, metavar="P",
        help="rotate the hues of this share of training patches at random (against learning colours by heart)",
    )
    p.add_argument(
        "--served-weight", type=interval(0, 100), default=defaults.served_weight, metavar="W",
        help="add W x the log-MSE of the ab as msau-run finishes them (hint correction and propagation, "
        "differentiated through): trains the network for what users see (default 0: off)",
    )
    p.add_argument("--val-every", type=integer(1), default=defaults.val_every, help="validate every N steps")
    p.add_argument(
        "--save-every", type=integer(1), default=defaults.save_every, help=f"write {LAST_CHECKPOINT} every N steps"
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="seeds weights, crops and hints")
    p.add_argument("--device", type=_device, default=defaults.device, help="auto, cpu, cuda or cuda:N")
    p.set_defaults(amp=None)  # neither flag: autocast where it pays (msau.model.train.resolve_amp)
    amp = p.add_mutually_exclusive_group()
    amp.add_argument(
        "--amp", dest="amp", action="store_true", default=argparse.SUPPRESS,
        help="autocast: bf16 on CPU, fp16 on CUDA (default: on a GPU, and on a CPU with native bf16, AVX512-BF16 or "
        "AMX; float32 elsewhere, where bf16 is emulated and ~10x slower)",
    )
    amp.add_argument("--no-amp", dest="amp", action="store_false", default=argparse.SUPPRESS, help="train in float32")
    p.add_argument("--threads", type=integer(1), help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--init", metavar="WEIGHTS",
        help="fine-tune: start from this checkpoint's weights and model config (--preset is ignored), "
        "with a fresh optimizer and learning-rate schedule",
    )
    p.add_argument("--resume", action="store_true", help=f"continue from OUT/{LAST_CHECKPOINT} if it exists")
    p.add_argument(
        "--stop-at", type=integer(1),
        help="stop at this step (checkpoint written) without changing the --steps schedule; --resume goes on",
    )
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        data=args.data, val=args.val, out=args.out, preset=args.preset, steps=args.steps, batch_size=args.batch_size,
        crop=args.crop, early_crop=args.early_crop, early_steps=args.early_steps, early_batch_size=args.early_batch_size,
        lr=args.lr, beta1=args.beta1, beta2=args.beta2, lr_schedule=args.lr_schedule, ssim_weight=args.ssim_weight,
        val_every=args.val_every, save_every=args.save_every, seed=args.seed, device=args.device, amp=args.amp,
        threads=args.threads, init=args.init, hue_jitter=args.hue_jitter, served_weight=args.served_weight,
    )


def _setup_problem(args: argparse.Namespace) -> str | None:
    """Why the run cannot start (None if it can), found before any data is loaded."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder"
    if args.device.startswith("cuda"):
        import torch

        index = int(args.device.partition(":")[2] or 0)
        if not torch.cuda.is_available():
            return f"--device {args.device}: this torch sees no CUDA GPU (use --device cpu or auto)"
        if index >= torch.cuda.device_count():
            return f"--device {args.device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run msau-train with argv (default sys.argv[1:]); returns the exit code."""
    from msau.runtime.interrupt import exit_code, terminate_as_interrupt

    try:
        with terminate_as_interrupt():  # SIGTERM and SIGHUP stop at a clean point, as Ctrl-C does
            return _main(argv)
    except KeyboardInterrupt as interrupt:
        print("\nmsau-train: interrupted; --resume continues from the last checkpoint", file=sys.stderr)
        return exit_code(interrupt)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help (0) and on usage errors (2); return the code instead
        return int(exit_.code or 0)
    problem = _setup_problem(args)
    if problem is not None:
        print(f"msau-train: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    config = config_from_args(args)
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a base dependency; guard for odd installs all the same
        tqdm = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            trainer = Trainer(config, resume=args.resume)
        except (ValueError, OSError, RuntimeError) as error:  # data, --init checkpoint, torch setup
            print(f"msau-train: error: {error}", file=sys.stderr)
            return EXIT_USAGE
    for warning in caught:
        print(f"msau-train: warning: {warning.message}", file=sys.stderr)
    print(
        f"msau-train: {len(trainer.images)} training images, {len(trainer.val_images)} validation images, "
        f"preset {config.preset}, device {trainer.device}, starting at step {trainer.step}/{config.steps}",
        file=sys.stderr,
    )
    print(f"msau-train: {trainer.precision.reason}", file=sys.stderr)
    bar = tqdm(total=config.steps, initial=trainer.step, desc="train", unit="step", dynamic_ncols=True) if tqdm else None

    def on_step(report: StepReport) -> None:
        postfix = {"loss": f"{report.loss:.4f}", "img/s": f"{report.images_per_second:.1f}", "crop": report.crop}
        if report.best_psnr is not None:
            postfix["best_psnr"] = f"{report.best_psnr:.2f}"
        if bar is not None:
            bar.set_postfix(postfix, refresh=False)
            bar.update(1)
        if report.validation is not None:
            message = (f"step {report.step}: val PSNR {report.validation.psnr:.2f} dB, "
                       f"SSIM {report.validation.ssim:.4f} (best {report.best_psnr:.2f})")
            (bar.write if bar is not None else print)(message)

    try:
        trainer.run(on_step, stop_at=args.stop_at)
    except KeyboardInterrupt as interrupt:
        from msau.runtime.interrupt import exit_code

        print(f"\nmsau-train: interrupted at step {trainer.step}; --resume continues from the last checkpoint", file=sys.stderr)
        return exit_code(interrupt)
    finally:
        if bar is not None:
            bar.close()
    print(f"msau-train: done, {trainer.step} steps in {trainer.elapsed:.0f} s; checkpoints in {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
