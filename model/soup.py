"""A model soup: the mean of several checkpoints' weights, its batch-norm statistics measured again on training crops.

Checkpoints fine-tuned from one run sit in one basin of the loss: their mean (Wortsman et al. 2022, "model soups")
is usually better than each of them, at no cost at inference. The mean of their batch-norm running statistics is
not the statistics of the mean network, so those are measured again: the soup runs over training batches (drawn as
msau-train draws them) in training mode, with a cumulative average instead of the running one.

Measuring them on a subset of the photos biases them: with the first 300 of the 1,073 training photos (sorted by
name, mostly ImageNet animals) the network alone lost 0.5-0.9 dB on val; on all of them it gained (MODEL.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from msau.model.checkpoint import load_checkpoint, save_checkpoint
from msau.model.data import TrainingSampler, load_folder
from msau.model.network import MSAUNet

DEFAULT_BATCHES = 200
DEFAULT_BATCH_SIZE = 8
DEFAULT_CROP = 192  # the crops msau-train draws (MODEL.md)
DEFAULT_SEED = 99


def average_weights(models: list[MSAUNet]) -> MSAUNet:
    """The first model with every floating-point tensor (weights and batch-norm statistics) replaced by the mean
    over models; integer tensors (batch-norm step counts) take the largest. The models must share a config."""
    if not models:
        raise ValueError("no checkpoints to average")
    configs = {model.config for model in models}
    if len(configs) > 1:
        raise ValueError(f"the checkpoints have different model configs: {sorted(map(str, configs))}")
    states = [model.state_dict() for model in models]
    mean = {}
    for name, first in states[0].items():
        values = [state[name] for state in states]
        mean[name] = torch.stack(values).mean(dim=0) if first.is_floating_point() else torch.stack(values).max(dim=0).values
    soup = models[0]
    soup.load_state_dict(mean)
    return soup


@torch.no_grad()
def measure_batch_norm(
    model: MSAUNet,
    sampler: TrainingSampler,
    batches: int,
    batch_size: int,
    crop: int,
    seed: int,
    on_batch: Callable[[], None] | None = None,
) -> MSAUNet:
    """Batch-norm running statistics of model replaced by their cumulative averages over batches of training crops
    (sampler.batch(batch_size, crop, seed, step) for step < batches); the model is returned in eval mode.
    on_batch is called after each batch (a progress bar)."""
    layers = [module for module in model.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [layer.momentum for layer in layers]  # restored afterwards: further training goes on as before
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # None: a cumulative average over every batch seen
    model.train()
    for step in range(batches):
        x, _ = sampler.batch(batch_size, crop, seed, step)  # (B, 4, crop, crop)
        model(torch.from_numpy(x))
        if on_batch is not None:
            on_batch()
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    """python -m msau.model.soup OUT CKPT CKPT ... --data TRAIN: write the soup of the checkpoints to OUT."""
    import argparse
    import sys

    from msau.runtime.cli_types import integer, network_side
    from msau.runtime.limits import MAX_TRAIN_CROP

    parser = argparse.ArgumentParser(
        prog="python -m msau.model.soup",
        description="Average checkpoints fine-tuned from one run (a model soup) and measure the batch-norm "
        "statistics of the average again on training crops. Writes a checkpoint like msau-train's.",
    )
    parser.add_argument("out", help="checkpoint to write (.safetensors)")
    parser.add_argument("checkpoints", nargs="+", help="checkpoints to average (.safetensors, one model config)")
    parser.add_argument("--data", required=True, help="training photos for the batch-norm statistics (never val)")
    parser.add_argument("--batches", type=integer(1), default=DEFAULT_BATCHES, help="batches of crops (default: %(default)s)")
    parser.add_argument("--batch-size", type=integer(1), default=DEFAULT_BATCH_SIZE, help="crops per batch (default: %(default)s)")
    parser.add_argument("--crop", type=network_side(MAX_TRAIN_CROP), default=DEFAULT_CROP, help="crop side in pixels (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the crops and hints (default: %(default)s)")
    parser.add_argument("--threads", type=integer(0), default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from tqdm import tqdm

    try:
        soup = average_weights([load_checkpoint(path)[0] for path in args.checkpoints])
        images = load_folder(args.data)
        if not images:
            raise ValueError(f"{args.data}: no photos to measure batch-norm statistics on")
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with tqdm(total=args.batches, desc="batch-norm statistics", unit="batch") as bar:
        measure_batch_norm(soup, TrainingSampler(images), args.batches, args.batch_size, args.crop, args.seed, bar.update)
    info = {
        "soup_of": [str(path) for path in args.checkpoints],
        "batch_norm": {"data": str(args.data), "batches": args.batches, "batch_size": args.batch_size,
                       "crop": args.crop, "seed": args.seed},
    }
    save_checkpoint(args.out, soup, info)
    print(f"wrote {args.out}: the mean of {len(args.checkpoints)} checkpoints, batch-norm statistics from "
          f"{args.batches} batches of {args.batch_size} crops of {args.crop}² from {args.data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
