"""msau-export: checkpoint -> ONNX (checked, parity vs PyTorch), FP16 ONNX (gated), TensorRT engine + sidecar,
OpenVINO IR where it helps. Every artifact is verified before it is written, and written atomically."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BATCH = "1,8,32"
DEFAULT_SIZE = "256,256,512"
DEFAULT_WORKSPACE_MB = 4096
TIMING_CACHE_NAME = "tensorrt.timing.cache"
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
        "--engine", action="store_true",
        help="also build a TensorRT engine STEM.fp32.engine (STEM.fp16.engine with --fp16) and its .json sidecar; "
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
        "--batch", type=_triple, default=DEFAULT_BATCH, metavar="MIN,OPT,MAX",
        help="TensorRT profile batch sizes (default: %(default)s)",
    )
    parser.add_argument(
        "--size", type=_triple, default=DEFAULT_SIZE, metavar="MIN,OPT,MAX",
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
        "checkout, else generated smooth images)",
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


class Reporter:
    """Prints each step with its duration, and collects the rows of the final table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str, str, float]] = []
        self.failed = False

    @contextmanager
    def step(self, what: str):
        print(f"- {what} ...", flush=True)
        started = time.perf_counter()
        yield
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)

    def note(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def fail(self, text: str, no_verify: bool) -> bool:
        """Report a failed check; True if the artifact is refused (False under --no-verify)."""
        if no_verify:
            print(f"  WARNING (written anyway, --no-verify): {text}", flush=True)
            return False
        self.failed = True
        print(f"  REFUSED: {text}", file=sys.stderr, flush=True)
        return True

    def check_tensorrt(self, model, name: str, engine: bool, no_verify: bool) -> bool:
        """Op-set check against TensorRT's parser list: refuses only when an engine is wanted."""
        from msau.export.tensorrt_onnx_ops import TENSORRT_VERSION, tensorrt_problems

        problems = tensorrt_problems(model)
        if not problems:
            self.note(f"every op type and data type is supported by TensorRT {TENSORRT_VERSION}'s ONNX parser")
            return False
        text = f"TensorRT {TENSORRT_VERSION}'s ONNX parser would reject {name}: " + "; ".join(problems)
        if engine:
            return self.fail(text, no_verify)
        self.note(f"warning: {text}")
        return False

    def add(self, path: Path, precision: str, figure: str, seconds: float, size_bytes: int | None = None) -> None:
        size = size_bytes if size_bytes is not None else path.stat().st_size
        self.rows.append((path.name, size / 1e6, precision, figure, seconds))

    def table(self) -> str:
        header = ("artifact", "size MB", "precision", "parity", "time s")
        lines = [header] + [(a, f"{s:.2f}", p, f, f"{t:.1f}") for a, s, p, f, t in self.rows]
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        return "\n".join(
            "  ".join(str(c).rjust(w) if i in (1, 4) else str(c).ljust(w) for i, (c, w) in enumerate(zip(line, widths)))
            for line in lines
        )


@dataclass
class Context:
    args: argparse.Namespace
    out: Path
    stem: str
    staging: Path
    report: Reporter


def _resolve_weights(weights: Path | None) -> Path:
    if weights is not None:
        if not weights.is_file():
            raise FileNotFoundError(f"{weights}: no such checkpoint")
        return weights
    from msau.runtime.models import shipped_model

    return shipped_model(".safetensors")


def _rebuild_command(args: argparse.Namespace, weights: Path) -> str:
    words = ["msau-export", "--weights", str(weights), "--out", str(args.out), "--engine"]
    words += ["--fp16"] if args.fp16 else []
    words += ["--batch", ",".join(map(str, args.batch)), "--size", ",".join(map(str, args.size))]
    if args.hardware_compatibility != "none":
        words += ["--hardware-compatibility", args.hardware_compatibility]
    return shlex.join(words)


def export_fp32(ctx: Context, model, data) -> Path | None:
    """Export, check and compare with PyTorch; move into OUT only if it passes (or --no-verify)."""
    import onnx

    from msau.export import checks
    from msau.export.onnx_export import export_model

    args, report = ctx.args, ctx.report
    refused = False
    started = time.perf_counter()
    staged = ctx.staging / f"{ctx.stem}.onnx"
    with report.step(f"exporting ONNX (opset {args.opset}, dynamic batch/height/width)"):
        result = export_model(model, staged, opset=args.opset, size=args.size[1])
        slim = f"simplified by onnxslim: {result.nodes_exported} -> {result.nodes_written} nodes" if result.simplified else (
            f"{result.nodes_written} nodes (onnxslim found nothing to remove)"
        )
        report.note(slim)
    refused |= check_graph(ctx, onnx.load(str(staged)), staged)
    with report.step(f"parity with PyTorch on ONNX Runtime CPU ({data.source}, {len(data)} images)"):
        parity = checks.torch_parity(model, staged, data)
        report.note(parity.summary())
        if not parity.passed:
            refused |= report.fail(f"{staged.name}: {parity.summary()}", args.no_verify)
    if refused:
        return None
    final = ctx.out / staged.name
    staged.replace(final)
    report.note(f"wrote {final}")
    report.add(final, "fp32", f"max abs err {parity.max_abs_error:.1e} vs PyTorch", time.perf_counter() - started)
    return final


def check_graph(ctx: Context, model, path: Path) -> bool:
    """onnx.checker (full), the I/O contract and TensorRT op support of a staged graph; True if it is refused."""
    from msau.export import checks

    refused = False
    with ctx.report.step("checking: onnx.checker (full), I/O contract, TensorRT parser op support"):
        try:
            checks.check_onnx(path)
            checks.check_contract(model, path.name)
        except checks.VerificationError as error:
            refused |= ctx.report.fail(str(error), ctx.args.no_verify)
        refused |= ctx.report.check_tensorrt(model, path.name, ctx.args.engine, ctx.args.no_verify)
    return refused


def export_fp16(ctx: Context, fp32_path: Path, data) -> Path | None:
    """Convert to FP16, gate against the FP32 graph; move into OUT only if it passes (or --no-verify)."""
    import onnx

    from msau.export import checks
    from msau.export.fp16 import convert_fp16, divergent_nodes
    from msau.export.onnx_export import save_onnx

    args, report = ctx.args, ctx.report
    refused = False
    started = time.perf_counter()
    fp32_model = onnx.load(str(fp32_path))
    staged = ctx.staging / f"{ctx.stem}.fp16.onnx"
    with report.step("converting to FP16 (float32 inputs and outputs)"):
        fp16_model, conversion = convert_fp16(fp32_model)
        save_onnx(fp16_model, staged)
        report.note(conversion.summary())
    refused |= check_graph(ctx, fp16_model, staged)
    with report.step(f"FP16 gate: FP16 vs FP32 ONNX on ONNX Runtime CPU ({len(data)} images)"):
        gate = checks.fp16_gate(fp32_path, staged, data)
        report.note(gate.summary())
        if not gate.passed:
            culprits = divergent_nodes(fp32_model, fp16_model, data.inputs)
            types = sorted({c.op_type for c in culprits})
            detail = "; ".join(c.describe() for c in culprits)
            refused |= report.fail(
                f"{staged.name} fails the FP16 gate: {gate.summary()}. Offending node types: {', '.join(types) or 'none found'}"
                f" ({detail})",
                args.no_verify,
            )
    if refused:
        return None
    final = ctx.out / staged.name
    staged.replace(final)
    report.note(f"wrote {final}")
    figure = f"out {gate.output_psnr:.1f} dB, img {gate.image_psnr_delta:+.3f} dB vs fp32"
    report.add(final, "fp16", figure, time.perf_counter() - started)
    return final


def build_engine_step(ctx: Context, onnx_path: Path, fp32_path: Path, precision: str, target, data, weights: Path) -> Path | None:
    """Build (or reuse) the TensorRT engine; the plan is run on the verification set before it is written."""
    from msau.export import checks
    from msau.export.samples import image_psnr
    from msau.export.tensorrt_build import BuildOptions, EngineBuildError, ShapeProfile, build_engine, run_plan_batched
    from msau.runtime.backends.base import BackendError

    args, report = ctx.args, ctx.report
    profile = ShapeProfile(tuple(args.batch), tuple(args.size))
    options = BuildOptions(workspace_mb=args.workspace, hardware_compatibility_level=args.hardware_compatibility)
    timing_cache = args.timing_cache or ctx.out / TIMING_CACHE_NAME
    reference = checks.run_onnx(fp32_path, data.inputs)
    figures: dict[str, float] = {}

    def verify(plan: bytes) -> None:
        result = run_plan_batched(plan, data.inputs, profile)
        figures["psnr"] = checks.output_psnr(reference, result)
        figures["delta"] = image_psnr(result, data) - image_psnr(reference, data)
        text = (
            f"engine vs FP32 ONNX: output PSNR {figures['psnr']:.1f} dB (min {checks.FP16_MIN_OUTPUT_PSNR:g}), "
            f"image PSNR delta {figures['delta']:+.3f} dB (limit +-{checks.FP16_MAX_IMAGE_PSNR_DELTA:g})"
        )
        report.note(text)
        passed = figures["psnr"] >= checks.FP16_MIN_OUTPUT_PSNR and abs(figures["delta"]) <= checks.FP16_MAX_IMAGE_PSNR_DELTA
        if not passed and not args.no_verify:
            raise checks.VerificationError(f"{ctx.stem}.{precision}.engine fails its gate: {text}")

    engine_path = ctx.out / f"{ctx.stem}.{precision}.engine"
    what = (
        f"TensorRT {target.tensorrt_version} engine on {target.gpu_name} (compute capability {target.compute_capability}): "
        f"{precision}, batch {args.batch}, size {args.size}, workspace {args.workspace} MB, timing cache {timing_cache}"
    )
    with report.step(what):
        try:
            result = build_engine(
                onnx_path, engine_path, precision, profile, options, timing_cache=timing_cache, target=target,
                force=args.force, verify=verify, extra={"rebuild_command": _rebuild_command(args, weights)},
            )
        except (EngineBuildError, checks.VerificationError, BackendError) as error:  # BackendError: CUDA failures
            report.fail(str(error), no_verify=False)
            return None
        if result.skipped:
            report.note(f"kept {engine_path.name}: an engine with the same key exists (use --force to rebuild)")
        else:
            report.note(f"wrote {engine_path} and {result.sidecar_path.name}")
    figure = f"out {figures['psnr']:.1f} dB, img {figures['delta']:+.3f} dB vs fp32" if figures else "unchanged (same key)"
    report.add(engine_path, precision, figure, result.seconds)
    return engine_path


def openvino_step(ctx: Context, fp32_path: Path, data) -> Path | None:
    """Measure OpenVINO from IR vs ONNX; write the IR only if it helps."""
    from msau.export.openvino_ir import decide, measure_openvino, save_ir

    report = ctx.report
    started = time.perf_counter()
    with report.step("measuring OpenVINO on CPU: ONNX vs IR (fp32 / fp16 weights), f32 and bf16 inference"):
        decision = decide(measure_openvino(fp32_path, data))
        report.note(f"{'source':8}  {'precision':9}  {'size MB':>7}  {'load s':>6}  {'latency ms':>10}  {'PSNR dB':>7}")
        for f in decision.figures:
            report.note(
                f"{f.source:8}  {f.precision:9}  {f.size_mb:7.2f}  {f.load_seconds:6.3f}  {f.latency_ms:10.1f}  {f.output_psnr:7.1f}"
            )
        report.note(f"decision: {decision.reason}")
    if decision.chosen is None:
        return None
    xml = save_ir(fp32_path, ctx.out / f"{ctx.stem}.xml", compress_to_fp16=decision.chosen == "ir-fp16")
    report.note(f"wrote {xml} and {xml.with_suffix('.bin').name}")
    figure = f"out {decision.figure(decision.chosen, 'f32').output_psnr:.1f} dB vs ORT"
    size = xml.stat().st_size + xml.with_suffix(".bin").stat().st_size
    weights = "fp16 weights" if decision.chosen == "ir-fp16" else "fp32"
    report.add(xml, weights, figure, time.perf_counter() - started, size)
    return xml


def main(argv: list[str] | None = None) -> int:
    """Entry point of msau-export; returns the exit code (0 ok, 1 an artifact failed its gate, 2 usage/environment)."""
    args = build_parser().parse_args(argv)
    from msau.export.onnx_export import MIN_OPSET
    from msau.export.tensorrt_build import BuildOptions, ShapeProfile

    try:
        if args.opset < MIN_OPSET:
            raise ValueError(f"--opset must be at least {MIN_OPSET}, got {args.opset}")
        ShapeProfile(tuple(args.batch), tuple(args.size))
        BuildOptions(workspace_mb=args.workspace, hardware_compatibility_level=args.hardware_compatibility)
        weights = _resolve_weights(args.weights)
    except (ValueError, FileNotFoundError) as error:
        print(f"msau-export: {error}", file=sys.stderr)
        return EXIT_USAGE

    target = None
    if args.engine:
        # Before anything is written: an engine request that cannot be served fails fast, leaving no files.
        from msau.export.tensorrt_build import GpuUnavailableError, probe_tensorrt
        from msau.runtime.backends.base import MissingDependencyError

        try:
            target = probe_tensorrt()
        except (MissingDependencyError, GpuUnavailableError) as error:
            print(f"msau-export: --engine: {error}", file=sys.stderr)
            return EXIT_USAGE

    report = Reporter()
    with report.step(f"loading {weights}"):
        from msau.model.checkpoint import load_checkpoint
        from msau.model.network import count_parameters

        try:
            model, _ = load_checkpoint(weights)
        except (ValueError, FileNotFoundError, RuntimeError) as error:
            print(f"msau-export: {error}", file=sys.stderr)
            return EXIT_USAGE
        report.note(f"widths {list(model.config.widths)}, {count_parameters(model) / 1e6:.2f}M parameters")
    with report.step(f"preparing verification inputs at {args.size[1]}x{args.size[1]}"):
        from msau.export.samples import HINT_RATIO, default_verification_set

        try:
            data = default_verification_set(args.size[1], args.images)
        except ValueError as error:
            print(f"msau-export: --images: {error}", file=sys.stderr)
            return EXIT_USAGE
        report.note(f"{data.source}, {HINT_RATIO:.0%} of pixels as hints sampled from each photo")

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.name or weights.name.split(".")[0]
    with tempfile.TemporaryDirectory(dir=args.out, prefix=".msau-export-") as staging:
        ctx = Context(args, args.out, stem, Path(staging), report)
        fp32_path = export_fp32(ctx, model, data)
        fp16_path = export_fp16(ctx, fp32_path, data) if fp32_path is not None and args.fp16 else None
        if target is not None and fp32_path is not None:
            source, precision = (fp16_path, "fp16") if args.fp16 else (fp32_path, "fp32")
            if source is not None:
                build_engine_step(ctx, source, fp32_path, precision, target, data, weights)
            else:
                report.note("no TensorRT engine: its FP16 ONNX was refused")
        if args.openvino and fp32_path is not None:
            openvino_step(ctx, fp32_path, data)

    print()
    print(report.table() if report.rows else "(no artifact written)")
    if report.failed:
        print("msau-export: some artifacts failed their checks and were not written (see REFUSED above)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
