"""msau-bench: latency, quality and comparison benchmarks of every backend and precision; tables on stdout,
--json result documents, --plot PNG plots, --markdown results files (benchmarks/results/<date>-cpu.md); and
`pipeline`: msau-run's batch pipeline against the backend alone (msau.benchmarks.pipeline)."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from msau.benchmarks.configs import FAILED, OK, Config, plan_configs
from msau.benchmarks.latency import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_BUDGET_S,
    DEFAULT_MAX_RUNS,
    DEFAULT_MIN_RUNS,
    DEFAULT_TIME_LIMIT_S,
    DEFAULT_WARMUP_S,
    LatencySettings,
)
from msau.benchmarks.quality import DEFAULT_BATCH, DEFAULT_RATIOS, QualityError, load_photos
from msau.benchmarks.schema import Document
from msau.runtime.backends.base import BACKENDS, PRECISIONS
from msau.runtime.cli_types import integer, network_side
from msau.runtime.contract import DEFAULT_SIZE

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2
DEFAULT_COMPARE_RATIO = 0.005
EXAMPLES_SUBDIR = Path("examples") / "color"


class UsageError(Exception):
    """A problem with the command line or the environment (exit code 2); the message says what to do."""


def _ratio(text: str) -> float:
    value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"a hint ratio is a fraction of pixels in 0..1 (or a percentage like 0.5%), got {text}"
        )
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("what to measure")
    group.add_argument(
        "--model",
        type=Path,
        help="model file (.onnx, .safetensors, ...); each backend loads the "
        "artifact of the same stem that msau-export writes (<stem>.onnx, <stem>.fp16.onnx, <stem>.xml, <stem>.safetensors, "
        "<stem>[.fp16].engine). "
        "Default: the shipped msau-tiny model",
    )
    group.add_argument(
        "--backends",
        nargs="+",
        choices=list(BACKENDS),
        metavar="NAME",
        help=f"backends to measure (default: all of {', '.join(BACKENDS)}; unavailable ones are reported as skipped)",
    )
    group.add_argument(
        "--precisions",
        nargs="+",
        choices=list(PRECISIONS),
        metavar="P",
        help="precisions to measure (default: every precision each backend has that makes sense on "
        "its device; naming one measures it anyway)",
    )
    group.add_argument(
        "--device",
        help="device for every backend (default: the GPU for torch and onnxruntime "
        "where there is an NVIDIA GPU, else the CPU)",
    )
    group.add_argument("--threads", type=integer(1), help="threads per backend (default: each library's choice)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--json", type=Path, metavar="FILE", help="write the result document as JSON")
    out.add_argument("--plot", type=Path, metavar="PNG", help="draw a PNG plot (needs matplotlib: msau[bench])")
    out.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE_OR_DIR",
        help="write a markdown results file (a folder gets <date>-cpu.md / <date>-gpu.md in it)",
    )


def _add_timing(parser: argparse.ArgumentParser, batch_sizes: bool = True) -> None:
    group = parser.add_argument_group("timing")
    if batch_sizes:
        group.add_argument(
            "--batch-sizes",
            nargs="+",
            type=integer(1),
            default=list(DEFAULT_BATCH_SIZES),
            metavar="N",
            help="batch sizes (default: %(default)s)",
        )
    group.add_argument(
        "--time-limit",
        type=_seconds,
        default=DEFAULT_TIME_LIMIT_S,
        metavar="S",
        help="seconds for the whole timing sweep, opening and warm-up included; measurements that do "
        "not fit are reported as skipped (default: %(default)s)",
    )
    group.add_argument(
        "--budget",
        type=_seconds,
        default=DEFAULT_BUDGET_S,
        metavar="S",
        help="timed seconds per measurement at most (default: %(default)s)",
    )
    group.add_argument(
        "--warmup",
        type=float,
        default=DEFAULT_WARMUP_S,
        metavar="S",
        help="warm-up seconds per measurement, at least one run (default: %(default)s)",
    )
    group.add_argument(
        "--min-runs",
        type=integer(1),
        default=DEFAULT_MIN_RUNS,
        metavar="N",
        help="timed runs per measurement at least, time limit permitting (default: %(default)s)",
    )
    group.add_argument(
        "--max-runs",
        type=integer(1),
        default=DEFAULT_MAX_RUNS,
        metavar="N",
        help="timed runs per measurement at most (default: %(default)s)",
    )
    group.add_argument("--no-peaks", action="store_true", help="do not measure the matmul peaks (roofline)")
    group.add_argument(
        "--in-process",
        action="store_true",
        help="time every configuration in this one process (default: each in its own, so that no other "
        "backend's thread pool is alive, and with the runtime's work timed from real Colorizer calls)",
    )


def _add_quality(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("photos and hints")
    group.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="folder of colour photos (default: the examples' colour photos, examples/color)",
    )
    group.add_argument("--max-images", type=integer(1), metavar="N", help="use the first N photos (by name)")
    group.add_argument("--grid", action="store_true", help="add the original project's fixed 7x7 grid of hints")
    group.add_argument("--seed", type=int, default=0, help="hint sampling seed; photo i uses seed + i (default: 0)")
    group.add_argument(
        "--no-refine", action="store_true",
        help="score the network alone, without the runtime's hint correction and propagation (as msau-run --no-refine)",
    )
    group.add_argument(
        "--quality-batch",
        type=integer(1),
        default=DEFAULT_BATCH,
        metavar="N",
        help="batch size for the quality runs (default: %(default)s)",
    )
    group.add_argument("--sheet", type=Path, metavar="PNG", help="write a contact sheet of a few results")
    group.add_argument(
        "--sheet-images",
        type=integer(1),
        default=3,
        metavar="N",
        help="photos on the contact sheet (default: %(default)s)",
    )


def _add_pipeline(commands) -> None:
    from msau.benchmarks import pipeline as bench
    from msau.runtime.colorizer import BACKEND_CHOICES
    from msau.runtime.image_io import WRITE_FORMATS

    parser = commands.add_parser(
        "pipeline",
        help="does msau-run keep the backend busy? its images/s against the backend's own, per batch size",
        description="Writes --images generated colour photos as grayscale files, with a hint file each (0.5 % of "
        "the pixels, sampled from the colour photo), into a temporary folder, opens one Colorizer and, per batch "
        "size: (a) the backend's own images/s: Colorizer.infer on already prepared inputs of that batch size, "
        "repeated, no file I/O; (b) the pipeline's images/s: msau-run's batch pipeline (msau.runtime.batch.run_jobs: "
        "reading and decoding, then finishing and writing in threads around the backend calls) on the whole folder, "
        "with the jobs msau-run makes for it, writing into a temporary folder. Prints both, their ratio, and the "
        "figure of issue 16: at the batch size where the backend is fastest, the pipeline's images/s over the "
        "backend's (the target is 90 %). It takes --images colorizations and --budget seconds of backend calls per "
        "batch size.",
        epilog="Example: msau-bench pipeline --images 64 --batch-sizes 1 4 8 16 --json pipeline.json",
    )
    what = parser.add_argument_group("what runs")
    what.add_argument(
        "--model", type=Path, help="ONNX model, TensorRT engine or .safetensors (default: the shipped model)"
    )
    what.add_argument(
        "--backend", choices=BACKEND_CHOICES, default="auto", help="as msau-run's (default: %(default)s: the fastest here)"
    )
    what.add_argument("--precision", choices=list(PRECISIONS), help="as msau-run's (default: the backend's choice)")
    what.add_argument("--device", help="as msau-run's, e.g. cpu, cuda, cuda:1")
    what.add_argument("--threads", type=integer(1), metavar="N", help="backend CPU threads (default: the backend's choice)")
    what.add_argument("--size", type=network_side(), default=DEFAULT_SIZE, metavar="PX", help="network size (default: %(default)s)")
    what.add_argument(
        "--no-refine", action="store_true", help="without the hint correction and propagation (as msau-run --no-refine)"
    )
    photos = parser.add_argument_group("photos and timing")
    photos.add_argument(
        "--images", type=int, default=bench.DEFAULT_IMAGES, metavar="N", help="photos to generate (default: %(default)s)"
    )
    photos.add_argument(
        "--photo-size",
        type=int,
        default=bench.DEFAULT_PHOTO_SIZE,
        metavar="PX",
        help="side of the square photos in pixels (default: %(default)s)",
    )
    photos.add_argument(
        "--input-format",
        choices=sorted(WRITE_FORMATS),
        default=bench.DEFAULT_INPUT_FORMAT,
        help="file format of the grayscale photos (default: %(default)s)",
    )
    photos.add_argument(
        "--format",
        choices=sorted(WRITE_FORMATS),
        default=bench.DEFAULT_OUTPUT_FORMAT,
        help="file format of the results, as msau-run --format (default: %(default)s)",
    )
    photos.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        default=list(bench.DEFAULT_BATCH_SIZES),
        metavar="N",
        help="batch sizes, each at most --images (default: %(default)s)",
    )
    photos.add_argument(
        "--workers",
        type=int,
        default=bench.DEFAULT_WORKERS,
        metavar="N",
        help="the pipeline's reading and writing threads, as msau-run --workers (default: %(default)s)",
    )
    photos.add_argument(
        "--budget",
        type=float,
        default=bench.DEFAULT_BUDGET_S,
        metavar="S",
        help="seconds of timed backend calls per batch size, at least 3 calls (default: %(default)s)",
    )
    photos.add_argument("--seed", type=int, default=0, help="photo and hint seed; photo i uses seed + i (default: 0)")
    parser.add_argument_group("outputs").add_argument(
        "--json", type=Path, metavar="FILE", help="write the numbers, the host's CPU model and flags as JSON"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msau-bench",
        description="Benchmark MSAU-Net on every available backend and precision: latency (p50/p90/p99, "
        "images/s, roofline), quality (PSNR/SSIM vs ground truth, parity vs torch fp32) and one comparison table.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    latency = commands.add_parser(
        "latency",
        help="latency and throughput per backend x precision x batch size",
        description="Warm-up, then timed runs, per backend x precision x size x batch size, inside one overall time "
        "limit; p50/p90/p99/mean per batch and per image, images/s, GFLOP/s against the measured matmul peak.",
    )
    _add_common(latency)
    _add_timing(latency)
    latency.add_argument(
        "--sizes",
        nargs="+",
        type=network_side(),
        default=[DEFAULT_SIZE],
        metavar="PX",
        help="square input sizes, multiples of 16 (default: %(default)s)",
    )
    latency.add_argument("--seed", type=int, default=0, help="seed of the random input (default: 0)")

    quality = commands.add_parser(
        "quality",
        help="PSNR/SSIM vs ground truth per hint ratio, parity vs torch fp32",
        description="Photos are scaled (shorter side = --size) and centre-cropped to --size; hints are sampled "
        "from the ground truth with a fixed seed; PSNR/SSIM (skimage definitions) on sRGB uint8, per image, averaged.",
    )
    _add_common(quality)
    _add_quality(quality)
    quality.add_argument(
        "--ratios",
        nargs="+",
        type=_ratio,
        default=list(DEFAULT_RATIOS),
        metavar="R",
        help="hint ratios as fractions or percentages, e.g. 0.005 or 0.5%% (default: %(default)s)",
    )
    quality.add_argument("--size", type=network_side(), default=DEFAULT_SIZE, help="network size (default: %(default)s)")

    compare = commands.add_parser(
        "compare",
        help="one table: status, size, PSNR/SSIM, ms/image at batch 1, images/s at the best batch",
        description="Runs the latency and quality harnesses on the same configurations and joins them into one table.",
    )
    _add_common(compare)
    _add_timing(compare)
    _add_quality(compare)
    compare.add_argument(
        "--ratio",
        type=_ratio,
        default=DEFAULT_COMPARE_RATIO,
        metavar="R",
        help="hint ratio for the quality columns (default: %(default)s)",
    )
    compare.add_argument("--size", type=network_side(), default=DEFAULT_SIZE, help="network size (default: %(default)s)")

    _add_pipeline(commands)

    report = commands.add_parser("report", help="tables and a markdown results file from saved --json documents")
    report.add_argument("documents", nargs="+", type=Path, metavar="JSON", help="documents written by --json")
    report.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE_OR_DIR",
        required=True,
        help="markdown file to write (a folder gets <date>-cpu.md / <date>-gpu.md in it)",
    )
    return parser


def default_model() -> Path:
    from msau.runtime.models import shipped_model

    try:
        return shipped_model(".onnx")
    except FileNotFoundError as error:
        raise UsageError(f"{error}; pass --model") from None


def default_images() -> Path:
    """examples/color under the current folder or the source checkout msau was installed from."""
    import msau

    candidates = [Path.cwd() / EXAMPLES_SUBDIR, Path(msau.__file__).resolve().parents[1] / EXAMPLES_SUBDIR]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise UsageError(
        f"no --images given and no examples folder found (looked in {', '.join(map(str, candidates))}); "
        "pass --images DIR with colour photos"
    )


def _configs(args: argparse.Namespace, model: Path) -> list[Config]:
    from msau.benchmarks.hostinfo import has_nvidia_gpu

    if not model.exists():
        raise UsageError(f"{model}: no such model file; pass --model with an .onnx or .safetensors file")
    options = {"threads": args.threads} if args.threads else {}
    configs = plan_configs(model, args.backends, args.precisions, args.device, gpu=has_nvidia_gpu(), options=options)
    if not configs:
        raise UsageError("no backend has the precisions asked for; see --backends and --precisions")
    return configs


def _latency_settings(args: argparse.Namespace, sizes: Sequence[int]) -> LatencySettings:
    try:
        return LatencySettings(
            batch_sizes=tuple(args.batch_sizes),
            sizes=tuple(sizes),
            time_limit_s=args.time_limit,
            budget_s=args.budget,
            warmup_s=args.warmup,
            min_runs=args.min_runs,
            max_runs=args.max_runs,
            seed=getattr(args, "seed", 0),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None


def _photos(args: argparse.Namespace, size: int):
    folder = args.images or default_images()
    try:
        photos, left_out = load_photos(folder, size, args.max_images)
    except (QualityError, ValueError) as error:
        raise UsageError(str(error)) from None
    return folder, photos, left_out


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_latency(args, command: str) -> Document:
    from msau.benchmarks.runner import latency_document

    model = args.model or default_model()
    configs = _configs(args, model)
    settings = _latency_settings(args, args.sizes)
    return latency_document(
        model, configs, settings, command, peaks=not args.no_peaks, progress=_say, isolate=not args.in_process
    )


def _quality_options(args) -> dict:
    """The quality harness's keyword options from the parsed arguments (quality and compare share them)."""
    return {
        "seed": args.seed,
        "grid": args.grid,
        "refine": not args.no_refine,
        "batch_size": args.quality_batch,
        "sheet": args.sheet,
        "sheet_images": args.sheet_images,
        "progress": _say,
    }


def _run_quality(args, command: str, ratios: Sequence[float]) -> Document:
    from msau.benchmarks.runner import quality_document

    model = args.model or default_model()
    configs = _configs(args, model)
    folder, photos, left_out = _photos(args, args.size)
    for item in left_out:
        _say(f"{folder / item['file']}: left out: {item['reason']}")
    return quality_document(
        model,
        configs,
        photos,
        folder,
        left_out,
        ratios,
        command,
        **_quality_options(args),
    )


def _run_compare(args, command: str) -> Document:
    from msau.benchmarks.runner import compare_document, latency_document, quality_document

    model = args.model or default_model()
    configs = _configs(args, model)
    settings = _latency_settings(args, [args.size])
    folder, photos, left_out = _photos(args, args.size)  # fail on a bad folder before the long timing sweep
    latency = latency_document(
        model, configs, settings, command, peaks=not args.no_peaks, progress=_say, isolate=not args.in_process
    )
    fresh = _configs(args, model)  # statuses are per harness: a latency skip does not carry over
    quality = quality_document(
        model,
        fresh,
        photos,
        folder,
        left_out,
        [args.ratio],
        command,
        **_quality_options(args),
    )
    return compare_document(latency, quality, args.ratio, command)


def _run_pipeline(args: argparse.Namespace, command: str) -> int:
    """msau-bench pipeline: settings checked, outputs checked, one Colorizer opened, then the measurement."""
    from msau.benchmarks.outputs import write_json
    from msau.benchmarks.pipeline import PipelineSettings, pipeline_document, pipeline_text, run_pipeline_benchmark
    from msau.runtime.backends.base import BackendError
    from msau.runtime.colorizer import Colorizer

    try:
        settings = PipelineSettings(
            images=args.images,
            batch_sizes=tuple(args.batch_sizes),
            photo_size=args.photo_size,
            input_format=args.input_format,
            output_format=args.format,
            workers=args.workers,
            budget_s=args.budget,
            seed=args.seed,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    options = {"threads": args.threads} if args.threads else {}
    try:
        colorizer = Colorizer(
            model=args.model, backend=args.backend, precision=args.precision, device=args.device, size=args.size,
            refine=not args.no_refine, **options,
        )
    except (BackendError, OSError, ValueError, ImportError) as error:
        raise UsageError(str(error)) from None  # a missing package's message names the extra to install
    _say(f"msau-bench: pipeline on {colorizer.describe()}")
    try:
        with colorizer:
            outcome = run_pipeline_benchmark(colorizer, settings, progress=_say)
    except OSError as error:  # the temporary folder could not be written
        raise UsageError(f"cannot write the photos or results: {error}") from None
    document = pipeline_document(outcome, command)
    print(pipeline_text(document))
    written = True
    if args.json:
        try:
            _say(f"wrote {write_json(args.json, document)}")
        except OSError as error:
            _say(f"msau-bench: --json {args.json}: {error}")
            written = False
    return EXIT_OK if outcome.ok and written else EXIT_FAILURES


def _check_outputs(args: argparse.Namespace) -> None:
    """UsageError for an output that could not be written (a folder given for --json, a read-only place), found
    before the benchmark runs rather than after it."""
    from msau.runtime.atomic import unwritable_reason

    for option in ("json", "plot", "sheet", "markdown"):
        path = getattr(args, option, None)
        if path is None or (option == "markdown" and path.is_dir()):  # --markdown takes a folder too
            continue
        reason = unwritable_reason(path)
        if reason is not None:
            raise UsageError(f"--{option} {path} {reason}" if reason.startswith("is ") else f"--{option} {path}: {reason}")


def _statuses(document: Document) -> list[str]:
    results = [r for d in document.parts() for r in d.results]
    return [r.status for r in results] + [b.status for r in results for b in r.batches]


def _markdown_path(target: Path, document: Document) -> Path:
    from msau.benchmarks.report import results_filename

    return target / results_filename(document) if target.is_dir() else target


def _plot(kind: str, document: Document, path: Path) -> None:
    from msau.benchmarks import plots

    {"latency": plots.plot_latency, "quality": plots.plot_quality, "compare": plots.plot_compare}[kind](document, path)


def _write_outputs(args, document: Document) -> bool:
    """Write --json, --markdown and --plot; False if one could not be made (the others still are)."""
    from msau.benchmarks.outputs import write_json
    from msau.runtime.atomic import write_text_atomic
    from msau.benchmarks.plots import PlotUnavailableError
    from msau.benchmarks.report import render_markdown

    ok = True
    if args.json:
        _say(f"wrote {write_json(args.json, document.to_json())}")
    if args.markdown:
        _say(f"wrote {write_text_atomic(_markdown_path(args.markdown, document), render_markdown([document]))}")
    if args.plot:
        try:
            _plot(document.kind, document, args.plot)
            _say(f"wrote {args.plot}")
        except PlotUnavailableError as error:
            _say(f"msau-bench: no plot: {error}")
            ok = False
    sheet = document.contact_sheet or (document.quality.contact_sheet if document.quality else None)
    if sheet:
        _say(f"wrote {sheet}")
    return ok


def _report(args) -> int:
    from msau.benchmarks.outputs import read_document
    from msau.runtime.atomic import write_text_atomic
    from msau.benchmarks.report import print_tables, render_markdown

    try:
        documents = [read_document(path) for path in args.documents]
    except ValueError as error:
        raise UsageError(str(error)) from None
    for document in documents:
        print(print_tables(document) + "\n")
    _say(f"wrote {write_text_atomic(_markdown_path(args.markdown, documents[0]), render_markdown(documents))}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of msau-bench; returns 0 (all ran or were skipped as unavailable), 1 (something failed or an
    output could not be made), 2 (usage or environment error, or nothing could run) or 128 + the signal's number
    when stopped by Ctrl-C, SIGTERM or SIGHUP."""
    from msau.runtime.interrupt import exit_code, signal_name, terminate_as_interrupt

    try:
        with terminate_as_interrupt():
            return _main(argv)
    except KeyboardInterrupt as interrupt:
        _say(f"\nmsau-bench: interrupted ({signal_name(interrupt)}); no partial output file is left")
        return exit_code(interrupt)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    command = "msau-bench " + shlex.join(argv)
    from msau.benchmarks.report import print_tables

    try:
        _check_outputs(args)
        if args.command == "report":
            return _report(args)
        if args.command == "pipeline":
            return _run_pipeline(args, command)
        if args.command == "latency":
            document = _run_latency(args, command)
        elif args.command == "quality":
            document = _run_quality(args, command, args.ratios)
        else:
            document = _run_compare(args, command)
    except UsageError as error:
        _say(f"msau-bench: {error}")
        return EXIT_USAGE
    print(print_tables(document))
    outputs_ok = _write_outputs(args, document)
    statuses = _statuses(document)
    if OK not in statuses:
        _say("msau-bench: nothing could run here (every configuration was skipped or failed); see the reasons above")
        return EXIT_USAGE
    return EXIT_FAILURES if FAILED in statuses or not outputs_ok else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
