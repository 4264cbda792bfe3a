"""The training loop behind msau-train: seeded, resumable, checkpointing the best model by validation PSNR."""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from msau.model.checkpoint import load_checkpoint, load_optimizer_state, save_checkpoint
from msau.model.config import get_config
from msau.model.data import TrainingSampler, load_folder
from msau.model.evaluate import Quality, evaluate
from msau.model.losses import msssim_l1_loss
from msau.model.network import MSAUNet
from msau.model.served_loss import served_log_mse
from msau.runtime.encoding import center_crop

LAST_CHECKPOINT = "last.safetensors"
BEST_CHECKPOINT = "best.safetensors"
LOG_FILE = "log.jsonl"
VAL_SEED = 0


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; stored in each checkpoint so a run can be reproduced."""

    data: str
    out: str
    val: str | None = None
    preset: str = "tiny"
    widths: tuple[int, ...] | None = None  # overrides the preset's widths (tests train very narrow nets)
    steps: int = 20000
    batch_size: int = 8
    crop: int = 256
    early_crop: int | None = None  # a smaller crop for the first early_steps steps: cheaper steps early on
    early_steps: int = 0
    early_batch_size: int | None = None
    lr: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_schedule: str = "cosine"  # "constant" (as published) or "cosine" decay to 5% of lr
    ssim_weight: float = 0.84  # alpha of Zhao et al.'s MS-SSIM + L1 mix
    val_every: int = 500
    save_every: int = 500
    val_size: int = 256
    val_ratio: float = 0.005
    seed: int = 0
    device: str = "auto"
    # Autocast: bf16 on CPU, fp16 + grad scaling on CUDA; None: where it pays (resolve_amp). True forces it.
    amp: bool | None = None
    threads: int | None = None
    max_side: int = 1024
    hue_jitter: float = 0.0  # share of training patches with randomly rotated hues (see TrainingSampler)
    served_weight: float = 0.0  # weight of the loss on the finished ab (msau.model.served_loss); 0: off
    init: str | None = None  # start from this checkpoint's weights (and model config), fresh optimizer and schedule

    def crop_at(self, step: int) -> tuple[int, int]:
        """(crop, batch size) used at a step."""
        if self.early_crop and step < self.early_steps:
            return self.early_crop, self.early_batch_size or self.batch_size
        return self.crop, self.batch_size

    def lr_at(self, step: int) -> float:
        if self.lr_schedule == "constant":
            return self.lr
        progress = min(step / max(self.steps, 1), 1.0)
        return self.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class StepReport:
    step: int
    steps: int
    loss: float
    lr: float
    crop: int
    images_per_second: float
    validation: Quality | None = None
    best_psnr: float | None = None


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass(frozen=True)
class Precision:
    """Whether the run computes under autocast, and why (for the CLI to say)."""

    autocast: bool
    reason: str


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX (within ONEDNN_MAX_CPU_ISA): the rule auto uses for OpenVINO's bf16."""
    from msau.runtime.backends.auto import cpu_capabilities

    return cpu_capabilities().bf16


def resolve_amp(
    amp: bool | None, device: torch.device, native_bf16: Callable[[], bool] = cpu_has_native_bf16
) -> Precision:
    """The precision a run trains in: amp itself where given; otherwise fp16 autocast on CUDA, and on a CPU bf16
    autocast only where the CPU computes bf16 natively (AVX512-BF16 or AMX, the rule of runtime/backends/auto.py).
    Elsewhere torch emulates bf16: on an AVX2-only AMD EPYC a tiny step at 192² x 8 took 20.5 s in bf16 against
    1.7 s in float32 (python -m msau.benchmarks.train_step)."""
    kind = "fp16 autocast" if device.type == "cuda" else "bf16 autocast"
    if amp is not None:
        return Precision(amp, f"{kind if amp else 'float32'}, as asked")
    if device.type == "cuda":
        return Precision(True, "fp16 autocast on the GPU")
    if native_bf16():
        return Precision(True, "bf16 autocast: this CPU computes bf16 natively (AVX512-BF16 or AMX)")
    return Precision(
        False, "float32: this CPU has no native bf16 (AVX512-BF16 or AMX), where bf16 autocast runs ~10x slower"
    )


def _autocast(device: torch.device, enabled: bool):
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


class Trainer:
    """Owns the model, optimizer, data and output folder of one run; ``run`` drives it to ``steps``."""

    def __init__(self, config: TrainConfig, resume: bool = False) -> None:
        self.config = config
        self.out = Path(config.out)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.device = pick_device(config.device)
        self.images = load_folder(config.data, config.max_side)
        self.sampler = TrainingSampler(self.images, hue_probability=config.hue_jitter)
        self.val_images = (
            [center_crop(image, config.val_size) for image in load_folder(config.val, config.max_side)]
            if config.val
            else []
        )
        self.step = 0
        self.best_psnr = -math.inf
        self.elapsed = 0.0
        last = self.out / LAST_CHECKPOINT
        if resume and last.exists():
            self.model, info = load_checkpoint(last)
            self.step = int(info["step"])
            best = info.get("best_psnr")  # None when the run had no validation yet
            self.best_psnr = float(best) if best is not None else -math.inf
            self.elapsed = float(info.get("elapsed_seconds", 0.0))
        elif config.init:
            self.model, _ = load_checkpoint(config.init)
        else:
            overrides = {"widths": tuple(config.widths)} if config.widths else {}
            self.model = MSAUNet(get_config(config.preset, **overrides))
        # channels_last measured 25% faster per CPU training step here (oneDNN prefers NHWC).
        self.memory_format = torch.channels_last
        self.model.to(self.device, memory_format=self.memory_format).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
        if resume and last.exists():
            load_optimizer_state(last, self.optimizer)
        self.precision = resolve_amp(config.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision.autocast and self.device.type == "cuda")

    def info(self, validation: Quality | None = None) -> dict:
        info = {
            "step": self.step,
            "best_psnr": self.best_psnr if math.isfinite(self.best_psnr) else None,
            "elapsed_seconds": round(self.elapsed, 1),
            "train_config": dataclasses.asdict(self.config),
            "autocast": self.precision.autocast,
            "hardware": torch.cuda.get_device_name() if self.device.type == "cuda" else platform.processor() or platform.machine(),
            "torch": torch.__version__,
        }
        if validation is not None:
            info["val_psnr"], info["val_ssim"] = validation.psnr, validation.ssim
        return info

    def train_step(self) -> tuple[float, int, int]:
        crop, batch_size = self.config.crop_at(self.step)
        x, y = self.sampler.batch(batch_size, crop, self.config.seed, self.step)
        x = torch.from_numpy(x).to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        y = torch.from_numpy(y).to(self.device, non_blocking=True)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr_at(self.step)
        with _autocast(self.device, self.precision.autocast):
            prediction = self.model(x)
        loss = self.loss(prediction, x, y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.detach()), crop, batch_size

    def loss(self, prediction: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """MS-SSIM + L1 of the network's ab against the photo's (Zhao et al. 2016), plus, with served_weight, the
        log-MSE of the ab as the runtime finishes them."""
        loss = msssim_l1_loss(prediction, y, self.config.ssim_weight)
        if self.config.served_weight:
            loss = loss + self.config.served_weight * served_log_mse(prediction, x, y)
        return loss

    def validate(self) -> Quality | None:
        if not self.val_images:
            return None
        with _autocast(self.device, self.precision.autocast):
            # What msau-run delivers (hint propagation included), with hints independent of the training seed, so
            # that runs with different seeds are chosen and compared on the same footing.
            return evaluate(self.model, self.val_images, self.config.val_ratio, seed=VAL_SEED, refine=True)

    def _log(self, record: dict) -> None:
        with open(self.out / LOG_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def run(self, on_step: Callable[[StepReport], None] | None = None, stop_at: int | None = None) -> Quality | None:
        """Train until config.steps (or stop_at, leaving the schedule of config.steps as it is, with a checkpoint
        to --resume from); returns the last validation figures (None without a val folder)."""
        last = min(self.config.steps, stop_at) if stop_at else self.config.steps
        self.out.mkdir(parents=True, exist_ok=True)
        validation = None
        while self.step < last:
            started = time.perf_counter()
            loss, crop, batch_size = self.train_step()
            seconds = time.perf_counter() - started
            self.elapsed += seconds
            self.step += 1
            report = StepReport(self.step, self.config.steps, loss, self.config.lr_at(self.step - 1), crop, batch_size / seconds)
            if self.step % self.config.val_every == 0 or self.step == last:
                validation = self.validate()
                if validation is not None:
                    report.validation = validation
                    if validation.psnr > self.best_psnr:
                        self.best_psnr = validation.psnr
                        save_checkpoint(self.out / BEST_CHECKPOINT, self.model, self.info(validation))
                self._log({"step": self.step, "loss": loss, "elapsed": round(self.elapsed, 1),
                           **({"val_psnr": validation.psnr, "val_ssim": validation.ssim} if validation else {})})
            if self.step % self.config.save_every == 0 or self.step == last:
                save_checkpoint(self.out / LAST_CHECKPOINT, self.model, self.info(validation), self.optimizer)
            report.best_psnr = self.best_psnr if math.isfinite(self.best_psnr) else None
            if on_step is not None:
                on_step(report)
        return validation
