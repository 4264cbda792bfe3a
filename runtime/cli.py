"""msau-run: colorize photos (files, folders, globs) with hints, on the fastest backend available.

Exit codes: 0 all done (or skipped), 1 some inputs failed (each named on stderr), 2 usage or environment
errors (no inputs, a bad option, a missing model or backend package).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msau.runtime.backends.base import PRECISIONS, BackendError
from msau.runtime.colorizer import BACKEND_CHOICES
from msau.runtime.contract import DEFAULT_SIZE, SIZE_MULTIPLE
from msau.runtime.image_io import DEFAULT_JPEG_QUALITY, WRITE_FORMATS

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _size(text: str) -> int:
    value = int(text)
    if value <= 0 or value % SIZE_MULTIPLE:
        raise argparse.ArgumentTypeError(f"must be a positive multiple of {SIZE_MULTIPLE}, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msau-run",
        description="Colorize gray (or colour) photos with MSAU-Net and optional colour hints.",
        epilog="Example: msau-run photos/ -r --hints hints/ -o out/ --backend auto",
    )
    parser.add_argument("inputs", nargs="+", help="image files, folders or globs ('photos/*.jpg')")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder (created if missing)")
    parser.add_argument("-r", "--recursive", action="store_true", help="look into subfolders of folder inputs")
    parser.add_argument(
        "--hints", type=Path, help="a hint file (.json or painted .png) for one input, or a folder of <stem>.json/<stem>.png"
    )
    parser.add_argument("--model", type=Path, help="ONNX model, TensorRT engine or .safetensors (default: the shipped model)")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="auto", help="default: auto (the fastest available)")
    parser.add_argument("--precision", choices=PRECISIONS, help="default: the backend's fastest accurate choice")
    parser.add_argument("--device", help="e.g. cpu, cuda, cuda:1, tensorrt (onnxruntime's TensorRT provider)")
    parser.add_argument("--batch-size", type=_positive, default=8, help="photos per network call (default 8)")
    parser.add_argument("--size", type=_size, default=DEFAULT_SIZE, help=f"square network size (default {DEFAULT_SIZE})")
    parser.add_argument("--format", choices=sorted(WRITE_FORMATS), default="png", help="output format (default png)")
    parser.add_argument("--jpeg-quality", type=int, default=DEFAULT_JPEG_QUALITY, help="for --format jpg")
    parser.add_argument("--skip-existing", action="store_true", help="skip inputs whose output exists (resume a run)")
    parser.add_argument(
        "--side-by-side", action="store_true", help="also write <stem>_compare: gray | hints | result (| original)"
    )
    parser.add_argument("--reference", type=Path, help="folder of colour originals <stem>.* for --side-by-side")
    parser.add_argument("--threads", type=_positive, help="backend CPU threads (default: the backend's choice)")
    parser.add_argument("--workers", type=_positive, default=2, help="threads reading and writing images (default 2)")
    parser.add_argument(
        "--no-refine", action="store_true",
        help="use the network's colours as they are (default: they are corrected by their errors at the hints, "
        "then the hints' colours are spread along regions of even lightness, with them as the prior)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _error(message: str) -> int:
    print(f"msau-run: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Run msau-run with argv (default sys.argv[1:]); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help (0) and on usage errors (2); return the code instead
        return int(exit_.code or 0)
    from msau.runtime.inputs import discover, plan_jobs

    inputs, unmatched = discover(args.inputs, args.recursive, exclude=args.out)
    if unmatched:
        return _error(f"no such file, folder or matching glob: {', '.join(unmatched)}")
    if not inputs:
        return _error(f"no images found in {', '.join(args.inputs)}" + ("" if args.recursive else " (use -r for subfolders)"))
    if args.hints is not None:
        if not args.hints.exists():
            return _error(f"--hints {args.hints}: no such file or folder")
        if args.hints.is_file() and len(inputs) != 1:
            return _error(f"--hints {args.hints} is one file but there are {len(inputs)} inputs; give a folder of <stem>.json/<stem>.png")
    if args.reference is not None and not args.reference.is_dir():
        return _error(f"--reference {args.reference}: no such folder")
    if args.out.exists() and not args.out.is_dir():
        return _error(f"-o {args.out} is a file, not a folder")

    options = {"threads": args.threads} if args.threads else {}
    try:
        from msau.runtime.colorizer import Colorizer

        colorizer = Colorizer(
            args.model, args.backend, args.precision, args.device, args.size, refine=not args.no_refine, **options
        )
    except (BackendError, FileNotFoundError, ValueError, ImportError) as error:
        return _error(str(error))  # MissingDependencyError is a BackendError and names the extra

    suffix = WRITE_FORMATS[args.format]
    jobs, known = plan_jobs(inputs, args.out, suffix, args.hints, args.reference, args.side_by_side, args.skip_existing)
    with colorizer:
        summary = _run(colorizer, jobs, known, args)
    print(
        f"done {summary.done}, failed {summary.failed}, skipped {summary.skipped} "
        f"in {summary.seconds:.1f} s ({summary.images_per_second:.2f} images/s) -> {args.out}"
    )
    return EXIT_FAILURES if summary.failed else EXIT_OK


def _run(colorizer, jobs, known, args):
    from tqdm import tqdm

    from msau.runtime.batch import FAILED, Summary, run_jobs

    print(f"msau-run: {colorizer.describe()}; {len(jobs)} to colorize", file=sys.stderr)
    bar = tqdm(total=len(jobs) + len(known), unit="img", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

    def on_result(result) -> None:
        if result.status == FAILED:
            bar.write(result.message, file=sys.stderr)
        bar.update(1)

    ahead = Summary()
    for result in known:
        ahead.add(result)
        on_result(result)
    try:
        summary = run_jobs(colorizer, jobs, args.batch_size, args.workers, args.jpeg_quality, on_result)
    finally:
        bar.close()
    summary.done += ahead.done
    summary.failed += ahead.failed
    summary.skipped += ahead.skipped
    summary.failures = ahead.failures + summary.failures
    return summary


if __name__ == "__main__":
    sys.exit(main())
