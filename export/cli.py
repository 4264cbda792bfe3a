"""msau-export: checkpoint -> ONNX (checked, parity vs PyTorch), FP16 ONNX (gated), TensorRT engine + sidecar,
OpenVINO IR where it helps. A thin wrapper over msau.export.api.export: it parses options, prints progress and
the final table, and maps errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msau.export.api import (
    DEFAULT_BATCH,
    DEFAULT_SIZE,
    DEFAULT_WORKSPACE_MB,
    DONE,
    REFUSED,
    STEP,
    TIMING_CACHE_NAME,
    WARNING,
    Artifact,
    ExportOptions,
    ExportRefused,
    ExportUsageError,
    Progress,
    export,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _triple(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,OPT,MAX integers, got {text!r}") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected MIN,OPT,MAX (three integers), got {text!r}")
    return values  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    from msau.export.onnx_export import DEFAULT_OPSET, MIN_OPSET
    from msau.runtime.engine_sidecar import HARDWARE_COMPATIBILITY_LEVELS
    from msau.runtime.limits import DEFAULT_MAX_PIXELS

    parser = argparse.ArgumentParser(
        prog="msau-export",
        description=(
            "Export an MSAU-Net checkpoint: ONNX (always; checked and compared with PyTorch), FP16 ONNX, a TensorRT "
            "engine with its JSON sidecar, and an OpenVINO IR where it helps. Each artifact is verified on photos "
            "with hints before it is written; one that fails its gate is not written (exit 1). Exit 2: bad options, "
            "a missing checkpoint, or --engine without TensorRT or an NVIDIA GPU (then nothing is written)."
        ),
    )
    parser.add_argument(
        "--weights", type=Path, default=None, metavar="CKPT",
        help="checkpoint (.safetensors written by msau-train) (default: the shipped model msau-tiny.safetensors)",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder, created if missing (required)")
    parser.add_argument(
        "--name", default=None, metavar="STEM", help="file stem of the artifacts (default: the checkpoint's file stem)"
    )
    parser.add_argument(
        "--fp16", action="store_true",
        help="also write STEM.fp16.onnx (FP16 inside, float32 I/O, sensitive ops kept in FP32), gated against the "
        "FP32 graph: output PSNR >= 45 dB and image PSNR within 0.05 dB; with --engine, the engine is built from "
        "it (default: off)",
    )
    parser.add_argument(
        "--int8", action="store_true",
        help="also write STEM.int8.onnx (QDQ: INT8 weights per channel and u8 activations, the layers that "
        "quantize badly kept in float; the onnxruntime and openvino backends run it with --precision int8), "
        "calibrated on --calibration and gated against the FP32 graph: image PSNR as served within 0.15 dB and "
        "output PSNR at least 30 dB (default: off)",
    )
    parser.add_argument(
        "--calibration", type=Path, default=None, metavar="DIR",
        help="photos to calibrate --int8 on, hints sampled from them (the first 16, sorted); never the photos you "
        "report quality on (required with --int8)",
    )
    parser.add_argument(
        "--engine", action="store_true",
        help="also build a TensorRT engine STEM.engine (STEM.fp16.engine with --fp16) and its .json sidecar; "
        "needs msau[tensorrt] and an NVIDIA GPU: build on the machine that will run it. An identical existing "
        "build (same ONNX, TensorRT, GPU and options) is kept (default: off)",
    )
    parser.add_argument(
        "--openvino", action="store_true",
        help="measure OpenVINO reading an IR vs reading the ONNX (size, load time, latency at f32 and bf16, "
        "accuracy) and write STEM.xml/.bin only if the IR is smaller or loads faster without being slower or "
        "less accurate (default: off)",
    )
    parser.add_argument(
        "--batch", type=_triple, default=",".join(map(str, DEFAULT_BATCH)), metavar="MIN,OPT,MAX",
        help="TensorRT profile batch sizes (default: %(default)s)",
    )
    parser.add_argument(
        "--size", type=_triple, default=",".join(map(str, DEFAULT_SIZE)), metavar="MIN,OPT,MAX",
        help="TensorRT profile square image sides, multiples of 16; verification runs at OPT (default: %(default)s)",
    )
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, metavar="N", help=f"ONNX opset, at least {MIN_OPSET} (default: %(default)s)"
    )
    parser.add_argument(
        "--workspace", type=int, default=DEFAULT_WORKSPACE_MB, metavar="MB",
        help="TensorRT workspace memory limit (default: %(default)s)",
    )
    parser.add_argument(
        "--timing-cache", type=Path, default=None, metavar="PATH",
        help=f"TensorRT timing cache, read and updated; makes rebuilds faster (default: DIR/{TIMING_CACHE_NAME})",
    )
    parser.add_argument(
        "--hardware-compatibility", choices=HARDWARE_COMPATIBILITY_LEVELS, default="none",
        help="TensorRT hardware compatibility: none = this GPU model only (fastest), same_compute_capability = "
        "GPUs of this compute capability, ampere_plus = any GPU of compute capability 8.0+ (default: %(default)s)",
    )
    parser.add_argument(
        "--images", type=Path, default=None, metavar="DIR",
        help="folder of photos to verify on, hints sampled from them (default: the example photos of a source "
        "checkout, else generated smooth images); a photo whose header declares more than --max-pixels is refused "
        "before anything is loaded",
    )
    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
        help="largest verification photo, in pixels (default: %(default)s)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild the engine even if an identical one exists (default: off)"
    )
    parser.add_argument(
        "--no-verify", action="store_true",
        help="write artifacts even when they fail their checks; the figures are still measured and reported "
        "(default: off)",
    )
    return parser


def print_progress(event: Progress) -> None:
    """Print an export event: each step with its duration, notes indented, refusals on stderr."""
    if event.kind == STEP:
        print(f"- {event.text} ...", flush=True)
    elif event.kind == DONE:
        print(f"  done in {event.seconds:.1f} s", flush=True)
    elif event.kind == WARNING:
        print(f"  WARNING (written anyway, --no-verify): {event.text}", flush=True)
    elif event.kind == REFUSED:
        print(f"  REFUSED: {event.text}", file=sys.stderr, flush=True)
    else:
        print(f"  {event.text}", flush=True)


def table(artifacts: list[Artifact]) -> str:
    """The final table: one row per written artifact."""
    header = ("artifact", "size MB", "precision", "parity", "time s")
    lines = [header] + [
        (a.path.name, f"{a.size_bytes / 1e6:.2f}", a.precision, a.figure, f"{a.seconds:.1f}") for a in artifacts
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).rjust(w) if i in (1, 4) else str(c).ljust(w) for i, (c, w) in enumerate(zip(line, widths)))
        for line in lines
    )


def options_from_args(args: argparse.Namespace) -> ExportOptions:
    """The ExportOptions an msau-export command line asks for."""
    return ExportOptions(
        out=args.out,
        name=args.name,
        fp16=args.fp16,
        int8=args.int8,
        calibration=args.calibration,
        engine=args.engine,
        openvino=args.openvino,
        batch=tuple(args.batch),
        size=tuple(args.size),
        opset=args.opset,
        workspace_mb=args.workspace,
        timing_cache=args.timing_cache,
        hardware_compatibility=args.hardware_compatibility,
        images=args.images,
        force=args.force,
        verify=not args.no_verify,
        max_pixels=args.max_pixels,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of msau-export; returns the exit code (0 ok, 1 an artifact failed its gate, 2 usage/environment)."""
    args = build_parser().parse_args(argv)
    failed = False
    try:
        artifacts = export(args.weights, options_from_args(args), print_progress)
    except ExportUsageError as error:
        print(f"msau-export: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ExportRefused as refused:
        artifacts, failed = refused.artifacts, True
    except OSError as error:  # the disk filled up, a file vanished: what was staged is removed, nothing half-written
        print(f"msau-export: {error}", file=sys.stderr)
        return EXIT_USAGE
    print()
    print(table(artifacts) if artifacts else "(no artifact written)")
    if failed:
        print("msau-export: some artifacts failed their checks and were not written (see REFUSED above)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
