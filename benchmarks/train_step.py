"""Training-step speed of presets, crops and precisions on this machine: python -m msau.benchmarks.train_step.

Times what msau-train's loop does per optimizer step (forward under autocast, MS-SSIM + L1, backward, Adam) on
synthetic batches, so that the crop, batch and precision of a run are chosen by measurement (MODEL.md). Data
loading is not included: msau-train's sampler costs about 40 ms a step beside these figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def step_seconds(preset: str, crop: int, batch: int, bf16: bool, steps: int, threads: int) -> float:
    """Median seconds per optimizer step after two warm-up steps."""
    import torch

    from msau.model.config import get_config
    from msau.model.losses import msssim_l1_loss
    from msau.model.network import MSAUNet

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = MSAUNet(get_config(preset)).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randn(batch, 4, crop, crop).contiguous(memory_format=torch.channels_last)  # (B, 4, crop, crop)
    y = torch.randn(batch, 2, crop, crop) * 0.3  # (B, 2, crop, crop)
    times = []
    for _ in range(steps + 2):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            prediction = model(x)
        loss = msssim_l1_loss(prediction, y, 0.5)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return statistics.median(times[2:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msau.benchmarks.train_step", description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,small", help="comma-separated presets")
    parser.add_argument("--crops", default="128x16,192x8,256x8", help="comma-separated CROPxBATCH")
    parser.add_argument("--precisions", default="bf16,fp32", help="bf16 (autocast) and/or fp32")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per configuration (after 2 warm-up)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)
    try:
        crops = [(int(crop), int(batch)) for crop, batch in (item.split("x") for item in args.crops.split(","))]
    except ValueError:
        parser.error(f"--crops takes CROPxBATCH items, e.g. 192x8, got {args.crops!r}")
    precisions = [p for p in args.precisions.split(",") if p]
    if set(precisions) - {"bf16", "fp32"} or args.steps < 1 or args.threads < 1:
        parser.error("--precisions takes bf16 and/or fp32; --steps and --threads must be at least 1")
    print("| preset | crop x batch | precision | ms/step | images/s |")
    print("|---|---|---|---|---|")
    for preset in args.presets.split(","):
        for crop, batch in crops:
            for precision in precisions:
                try:
                    seconds = step_seconds(preset, crop, batch, precision == "bf16", args.steps, args.threads)
                except (ValueError, RuntimeError) as error:
                    print(f"python -m msau.benchmarks.train_step: error: {preset} {crop}x{batch}: {error}", file=sys.stderr)
                    return 2
                print(f"| {preset} | {crop}² x {batch} | {precision} | {seconds * 1000:.0f} | {batch / seconds:.1f} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
