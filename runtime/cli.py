"""msau-run: colorize photos (files, folders, globs) with hints, on the fastest backend available.

Exit codes: 0 all done (or skipped), 1 some inputs failed (each named on stderr), 2 usage or environment
errors (no inputs, a bad option, a missing model or backend package, a model that cannot be loaded or does not
match the I/O contract, an output folder that cannot be written); 128 + the signal's number when interrupted
(130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), once the images being written are finished or removed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msau.runtime.backends.base import PRECISIONS, BackendError
from msau.runtime.batch import DEFAULT_WORKERS
from msau.runtime.cli_types import integer, network_side, number
from msau.runtime.colorizer import BACKEND_CHOICES
from msau.runtime.contract import DEFAULT_SIZE
from msau.runtime.gray_formula import GRAY_FROM_CHOICES
from msau.runtime.image_io import DEFAULT_JPEG_QUALITY, WRITE_FORMATS
from msau.runtime.limits import DEFAULT_MAX_PIXELS, check_jpeg_quality, check_max_pixels

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _checked(check):
    """An argparse type from a limits check: int(text), then check(value); its ValueError is a usage error."""

    def parse(text: str) -> int:
        try:
            return check(int(text))
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


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
    parser.add_argument("--batch-size", type=integer(1), default=8, help="photos per network call (default 8)")
    parser.add_argument("--size", type=network_side(), default=DEFAULT_SIZE, help=f"square network size (default {DEFAULT_SIZE})")
    parser.add_argument("--format", choices=sorted(WRITE_FORMATS), default="png", help="output format (default png)")
    parser.add_argument(
        "--jpeg-quality", type=_checked(check_jpeg_quality), default=DEFAULT_JPEG_QUALITY, help="for --format jpg (0-100)"
    )
    parser.add_argument(
        "--max-pixels", type=_checked(check_max_pixels), default=DEFAULT_MAX_PIXELS,
        help=f"refuse images whose header declares more pixels (default {DEFAULT_MAX_PIXELS:,}); checked before decoding",
    )
    parser.add_argument("--skip-existing", action="store_true", help="skip inputs whose output exists (resume a run)")
    parser.add_argument(
        "--side-by-side", action="store_true", help="also write <stem>_compare: gray | hints | result (| original)"
    )
    parser.add_argument("--reference", type=Path, help="folder of colour originals <stem>.* for --side-by-side")
    parser.add_argument("--threads", type=integer(1), help="backend CPU threads (default: the backend's choice)")
    parser.add_argument(
        "--workers", type=integer(1),
        help=f"threads reading and writing images (default {DEFAULT_WORKERS}); with --ray: Ray actors, each with one "
        "Colorizer (default: one per CPU of the cluster, or per --gpus-per-worker GPUs)",
    )
    parser.add_argument(
        "--no-refine", action="store_true",
        help="use the network's colours as they are (default: they are corrected by their errors at the hints, "
        "then the hints' colours are spread along regions of even lightness, with them as the prior)",
    )
    parser.add_argument(
        "--gray-from", choices=GRAY_FROM_CHOICES, default="auto",
        help="how the gray inputs were made from colour: lightness (a gray v is the colour (v, v, v), as DESIGN.md "
        "reads it), rec601 luma (OpenCV, Pillow's convert('L')), rec709 luma (scikit-image's rgb2gray), or auto "
        "(default): told per photo by its single-pixel hints, lightness unless a luma formula clearly fits them. "
        "Under a luma formula the output, made gray by that formula, gives the input back, hints included",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ray = parser.add_argument_group("scale out on Ray (pip install 'msau[ray]'; inputs, hints and -o on a shared filesystem)")
    ray.add_argument("--ray", action="store_true", help="run the job on Ray Data: one Colorizer per actor, --threads CPUs each (default 1)")
    ray.add_argument("--ray-address", metavar="ADDR", help="join a cluster: auto, HOST:6379 or ray://HOST:10001 (default: start a local Ray)")
    ray.add_argument("--gpus-per-worker", type=number(0.0), default=0.0, metavar="F", help="GPUs each actor reserves (default 0)")
    return parser


def _error(message: str) -> int:
    print(f"msau-run: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _output_problem(out: Path, inputs: list[str]) -> str | None:
    """Why -o cannot be the output folder (None if it can): a file, an input folder, or not writable; found
    before any image is computed, not after the whole batch."""
    from msau.runtime.atomic import unwritable_reason

    reason = unwritable_reason(out, folder=True)
    if reason is not None:
        return f"-o {out} {reason}" if reason.startswith("is ") else f"-o {out}: {reason}"
    if any(Path(a).is_dir() and out.resolve() == Path(a).resolve() for a in inputs):
        return f"-o {out} is an input folder: results would land beside the photos and be read as inputs next time; choose another"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run msau-run with argv (default sys.argv[1:]); returns the exit code."""
    import cv2

    from msau.runtime.interrupt import exit_code, signal_name, terminate_as_interrupt
    from msau.runtime.stderr_filter import quiet_library_lines

    # A bad file gets one line of ours; OpenCV's warnings and libpng's errors about it would only repeat it.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        with terminate_as_interrupt(), quiet_library_lines():  # SIGTERM and SIGHUP clean up as Ctrl-C does
            return _main(argv)
    except KeyboardInterrupt as interrupt:
        print(
            f"\nmsau-run: interrupted ({signal_name(interrupt)}); every output written is complete and no temporary "
            "file is left (--skip-existing resumes)", file=sys.stderr,
        )
        return exit_code(interrupt)


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help (0) and on usage errors (2); return the code instead
        return int(exit_.code or 0)
    from msau.runtime.inputs import discover

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
    problem = _output_problem(args.out, args.inputs)
    if problem is not None:
        return _error(problem)

    if not args.ray and (args.ray_address or args.gpus_per_worker):
        return _error("--ray-address and --gpus-per-worker go with --ray")
    options = {"threads": args.threads} if args.threads else {}
    colorizer_options = dict(
        model=args.model, backend=args.backend, precision=args.precision, device=args.device, size=args.size,
        refine=not args.no_refine, max_pixels=args.max_pixels, gray_from=args.gray_from, **options,
    )
    if args.ray:
        return _main_ray(colorizer_options, inputs, args)
    try:
        from msau.runtime.colorizer import Colorizer

        colorizer = Colorizer(**colorizer_options)
    except (BackendError, OSError, ValueError, ImportError) as error:
        return _error(str(error))  # MissingDependencyError is a BackendError and names the extra

    from msau.runtime.atomic import remove_leftovers
    from msau.runtime.batch import run_jobs

    jobs, known = _plan(inputs, args)
    # Temporaries that an earlier run killed mid-write (SIGKILL, power loss) left beside these outputs.
    remove_leftovers((p for job in jobs for p in (job.output, job.compare) if p is not None), dead_writers_only=True)
    workers = args.workers or DEFAULT_WORKERS
    with colorizer:
        summary = _run(
            colorizer.describe(),
            lambda on_result, _say: run_jobs(colorizer, jobs, args.batch_size, workers, args.jpeg_quality, on_result),
            jobs, known, args,
        )
    return _report(summary, args)


def _plan(inputs, args):
    """(jobs, known results): the same plan in both modes."""
    from msau.runtime.inputs import plan_jobs

    suffix = WRITE_FORMATS[args.format]
    return plan_jobs(inputs, args.out, suffix, args.hints, args.reference, args.side_by_side, args.skip_existing)


def _report(summary, args) -> int:
    for formula, count in sorted(summary.read_as_luma.items()):
        told = ", as their hints tell (--gray-from lightness reads v as (v, v, v))" if args.gray_from == "auto" else ""
        print(f"msau-run: {count} gray photo(s) read as {formula} luma{told}", file=sys.stderr)
    print(
        f"done {summary.done}, failed {summary.failed}, skipped {summary.skipped} "
        f"in {summary.seconds:.1f} s ({summary.images_per_second:.2f} images/s) -> {args.out}"
    )
    return EXIT_FAILURES if summary.failed else EXIT_OK


def _main_ray(colorizer_options, inputs, args) -> int:
    """The job on Ray Data (msau.runtime.ray_job): same plan, report and exit codes as local mode."""
    from msau.runtime.colorizer import resolve_model
    from msau.runtime.ray_job import RayJobError, RaySettings, require_ray, run_on_ray

    try:
        require_ray()
        resolve_model(args.model, args.backend)  # a missing model is a usage error here, not on every actor
    except (BackendError, FileNotFoundError) as error:
        return _error(str(error))
    jobs, known = _plan(inputs, args)
    settings = RaySettings(args.ray_address, args.workers, args.gpus_per_worker, args.batch_size, args.jpeg_quality)
    where = f"Ray at {args.ray_address}" if args.ray_address else "a local Ray"
    try:
        summary = _run(
            f"Ray Data on {where}",
            lambda on_result, say: run_on_ray(jobs, colorizer_options, settings, on_result, on_start=say),
            jobs, known, args,
        )
    except RayJobError as error:
        return _error(str(error))
    return _report(summary, args)


def _run(what, execute, jobs, known, args):
    """Progress bar and summary around execute(on_result, say), which runs the jobs; known results count too."""
    from tqdm import tqdm

    from msau.runtime.batch import FAILED, Summary

    print(f"msau-run: {what}; {len(jobs)} to colorize", file=sys.stderr)
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
        summary = execute(on_result, lambda line: bar.write(f"msau-run: {line}", file=sys.stderr))
    finally:
        bar.close()
    summary.done += ahead.done
    summary.failed += ahead.failed
    summary.skipped += ahead.skipped
    summary.failures = ahead.failures + summary.failures
    return summary


if __name__ == "__main__":
    sys.exit(main())
