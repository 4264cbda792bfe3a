"""INT8 against FP32 (and bf16), side by side: network time per image with each configuration in its own process,
and image PSNR as served on a photo folder, for the ONNX Runtime and OpenVINO backends.

    python -m msau.benchmarks.int8_compare quantize --calibration DIR --check DIR --out FILE.int8.onnx
    python -m msau.benchmarks.int8_compare latency --int8 FILE.int8.onnx [--batch 1,8] [--rounds 3]
    python -m msau.benchmarks.int8_compare quality --int8 FILE.int8.onnx --photos DIR [--ratio 0.005]

Results go to stdout as Markdown tables (benchmarks/results/2026-12-01-int8.md holds one run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# (backend, precision, which model: the FP32 ONNX or the INT8 one)
CONFIGS = (
    ("onnxruntime", "fp32", "fp32"),
    ("onnxruntime", "int8", "int8"),
    ("openvino", "fp32", "fp32"),
    ("openvino", "bf16", "fp32"),
    ("openvino", "int8", "int8"),
)
WARMUP_RUNS = 3
TIMED_SECONDS = 4.0  # per configuration and batch size, at least MIN_RUNS runs
MIN_RUNS = 5


def _fp32_model(path: Path | None) -> Path:
    from msau.runtime.models import shipped_model

    return path or shipped_model()


def time_one(backend: str, precision: str, model: Path, batch: int, size: int) -> dict:
    """Median and minimum ms per image of backend.infer on a (batch, 4, size, size) input, in this process."""
    from msau.benchmarks.latency import make_input
    from msau.runtime.backends.base import open_backend

    x = make_input(batch, size)
    with open_backend(backend, model, precision) as runner:
        for _ in range(WARMUP_RUNS):
            runner.infer(x)
        samples: list[float] = []
        started = time.perf_counter()
        while len(samples) < MIN_RUNS or time.perf_counter() - started < TIMED_SECONDS:
            begin = time.perf_counter()
            runner.infer(x)
            samples.append(time.perf_counter() - begin)
    per_image = np.array(samples) * 1000.0 / batch
    return {"median_ms": float(np.median(per_image)), "min_ms": float(per_image.min()), "runs": len(samples)}


def latency_table(fp32: Path, int8: Path, batches: list[int], size: int, rounds: int) -> str:
    """Every configuration timed in a fresh process (no other backend's threads alive), rounds interleaved."""
    models = {"fp32": fp32, "int8": int8}
    results: dict[tuple[str, str, int], list[dict]] = {}
    for _ in range(rounds):
        for backend, precision, which in CONFIGS:
            for batch in batches:
                command = [sys.executable, "-m", "msau.benchmarks.int8_compare", "one", backend, precision,
                           str(models[which]), str(batch), str(size)]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}")
                results.setdefault((backend, precision, batch), []).append(json.loads(done.stdout))
    lines = [
        f"| backend | precision | model | batch | ms/image (median of {rounds} rounds' medians) | best ms/image | vs fp32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, precision, which in CONFIGS:
        for batch in batches:
            runs = results[(backend, precision, batch)]
            median = float(np.median([r["median_ms"] for r in runs]))
            best = min(r["min_ms"] for r in runs)
            base = float(np.median([r["median_ms"] for r in results[(backend, "fp32", batch)]]))
            lines.append(
                f"| {backend} | {precision} | {models[which].name} | {batch} | {median:.1f} | {best:.1f} | "
                f"{base / median:.2f}x |"
            )
    return "\n".join(lines)


def quality_table(fp32: Path, int8: Path, photos: Path, ratio: float, size: int, count: int) -> str:
    """Image PSNR as served (hint correction, propagation, decode) and the network output's PSNR against FP32 on
    ONNX Runtime, for every configuration, on the first count photos of a folder."""
    from msau.export.checks import output_psnr, run_onnx
    from msau.export.samples import image_psnr, load_photos, verification_set
    from msau.runtime.backends.base import open_backend

    data = verification_set(load_photos(photos, limit=count), size, str(photos), ratio)
    reference = run_onnx(fp32, data.inputs)
    models = {"fp32": fp32, "int8": int8}
    lines = [
        "| backend | precision | image PSNR as served (dB) | vs ONNX Runtime fp32 (dB) | output PSNR vs fp32 (dB) |",
        "|---|---|---|---|---|",
    ]
    baseline = image_psnr(reference, data, served=True)
    for backend, precision, which in CONFIGS:
        with open_backend(backend, models[which], precision) as runner:
            ab = np.concatenate([runner.infer(data.inputs[i : i + 1]) for i in range(len(data))])
        served = image_psnr(ab, data, served=True)
        lines.append(
            f"| {backend} | {precision} | {served:.3f} | {served - baseline:+.3f} | {output_psnr(reference, ab):.1f} |"
        )
    return f"{len(data)} photos of {photos}, {ratio:.1%} hints, {size}x{size}\n\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m msau.benchmarks.int8_compare", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    quantize = commands.add_parser("quantize", help="quantize and gate (msau.export.int8.quantize_int8)")
    quantize.add_argument("--model", type=Path, default=None, help="FP32 ONNX (default: the shipped model)")
    quantize.add_argument("--calibration", type=Path, required=True, metavar="DIR")
    quantize.add_argument("--check", type=Path, required=True, metavar="DIR", help="photos the gate scores")
    quantize.add_argument("--check-count", type=int, default=200, help="photos of --check used (default: %(default)s)")
    quantize.add_argument("--ratio", type=float, default=0.005, help="hint ratio of the check (default: %(default)s)")
    quantize.add_argument("--out", type=Path, required=True)
    for name in ("latency", "quality"):
        sub = commands.add_parser(name)
        sub.add_argument("--fp32", type=Path, default=None, help="FP32 ONNX (default: the shipped model)")
        sub.add_argument("--int8", type=Path, required=True)
        sub.add_argument("--size", type=int, default=256)
    commands.choices["latency"].add_argument("--batch", default="1,8")
    commands.choices["latency"].add_argument("--rounds", type=int, default=3)
    commands.choices["quality"].add_argument("--photos", type=Path, required=True, metavar="DIR")
    commands.choices["quality"].add_argument("--ratio", type=float, default=0.005)
    commands.choices["quality"].add_argument("--count", type=int, default=200)
    one = commands.add_parser("one", help="(internal) time one configuration in this process; prints JSON")
    one.add_argument("backend")
    one.add_argument("precision")
    one.add_argument("model", type=Path)
    one.add_argument("batch", type=int)
    one.add_argument("size", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "one":
        print(json.dumps(time_one(args.backend, args.precision, args.model, args.batch, args.size)))
        return 0
    if args.command == "quantize":
        from msau.export.int8 import calibration_set, quantize_int8
        from msau.export.samples import load_photos, verification_set

        try:
            calibration = calibration_set(args.calibration)
            check = verification_set(load_photos(args.check, limit=args.check_count), 256, str(args.check), args.ratio)
            report = quantize_int8(_fp32_model(args.model), args.out, calibration, check)
        except (ValueError, ImportError) as error:  # QuantizationError, MissingQuantizerError
            print(f"int8_compare: {error}", file=sys.stderr)
            return 2
        print(report.summary())
        print(f"written: {report.written} ({args.out})")
        return 0 if report.passed else 1
    from msau.benchmarks.hostinfo import cpu_facts

    cpu = cpu_facts()
    print(f"CPU: {cpu['model']}, {cpu['usable_cores']} cores usable, flags {' '.join(cpu['features'])}\n")
    try:
        if args.command == "latency":
            batches = [int(b) for b in args.batch.split(",")]
            print(latency_table(_fp32_model(args.fp32), args.int8, batches, args.size, args.rounds))
        else:
            print(quality_table(_fp32_model(args.fp32), args.int8, args.photos, args.ratio, args.size, args.count))
    except (RuntimeError, ValueError, OSError) as error:  # BackendError is a RuntimeError
        print(f"int8_compare: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
