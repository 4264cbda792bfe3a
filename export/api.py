"""The export workflow as a Python API: ``export(weights, ExportOptions(out=...), progress) -> list[Artifact]``.

Checkpoint -> ONNX (checked, parity with PyTorch), FP16 ONNX (gated), INT8 ONNX (calibrated, gated), TensorRT
engine + sidecar, OpenVINO IR where it helps. Each artifact is verified before it is written and written atomically under the one naming
rule (msau.runtime.artifacts). ``msau-export`` is a thin wrapper over this module.

Errors: ExportUsageError (a ValueError) for options, files and environment that cannot work (nothing is
written; raised before the model is loaded where possible); ExportRefused when some artifact failed its gate
(it carries the artifacts that were written and the reasons).
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from msau.runtime.artifacts import CHECKPOINT_SUFFIX, ENGINE_SUFFIX, IR_SUFFIX, ONNX_SUFFIX, artifact_path, model_stem

DEFAULT_BATCH = (1, 8, 32)
DEFAULT_SIZE = (256, 256, 512)
DEFAULT_WORKSPACE_MB = 4096
TIMING_CACHE_NAME = "tensorrt.timing.cache"

STEP, DONE, NOTE, WARNING, REFUSED = "step", "done", "note", "warning", "refused"


class ExportUsageError(ValueError):
    """Options, files or the environment rule the export out; nothing was written. The message says why."""


class ExportRefused(RuntimeError):
    """Some artifacts failed their checks and were not written; ``artifacts`` holds those that were."""

    def __init__(self, artifacts: list["Artifact"], reasons: list[str]) -> None:
        super().__init__("some artifacts failed their checks and were not written: " + "; ".join(reasons))
        self.artifacts = artifacts
        self.reasons = reasons


@dataclass(frozen=True)
class Progress:
    """One event of an export: a step starts (STEP) or ends (DONE, with seconds), a NOTE, a WARNING (a failed
    check written anyway, verify=False) or a REFUSED artifact."""

    kind: str
    text: str
    seconds: float | None = None


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Artifact:
    """A written artifact: its path, precision, size on disk, the figure of its check and the time it took."""

    path: Path
    precision: str  # fp32 | fp16 | int8 | "fp16 weights" (an OpenVINO IR)
    size_bytes: int
    figure: str
    seconds: float


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how. out is the output folder (created if missing)."""

    out: Path
    name: str | None = None  # stem of the artifacts; None: the checkpoint's stem
    fp16: bool = False
    int8: bool = False  # needs calibration
    calibration: Path | None = None  # photos the INT8 graph is calibrated on; never those a figure is reported on
    engine: bool = False
    openvino: bool = False
    batch: tuple[int, int, int] = DEFAULT_BATCH  # TensorRT profile (min, opt, max)
    size: tuple[int, int, int] = DEFAULT_SIZE  # TensorRT profile square sides; verification runs at opt
    opset: int | None = None  # None: msau.export.onnx_export.DEFAULT_OPSET
    workspace_mb: int = DEFAULT_WORKSPACE_MB
    timing_cache: Path | None = None  # None: out / TIMING_CACHE_NAME
    hardware_compatibility: str = "none"
    images: Path | None = None  # verification photos; None: the examples of a checkout, else generated ones
    force: bool = False  # rebuild an engine even if an identical one exists
    verify: bool = True  # False: write artifacts that fail their checks, with a warning
    max_pixels: int | None = None  # per verification photo, read from its header; None: runtime.limits default

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))


def _noop(event: Progress) -> None:
    pass


@dataclass
class _Run:
    """The state of one export: options, emitted events, written artifacts and refusals."""

    options: ExportOptions
    stem: str
    staging: Path
    progress: ProgressCallback
    artifacts: list[Artifact] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.progress(Progress(STEP, what))
        started = time.perf_counter()
        yield
        self.progress(Progress(DONE, what, time.perf_counter() - started))

    def note(self, text: str) -> None:
        self.progress(Progress(NOTE, text))

    def fail(self, text: str) -> bool:
        """Report a failed check; True if the artifact is refused (False when verify is off)."""
        if not self.options.verify:
            self.progress(Progress(WARNING, text))
            return False
        self.refusals.append(text)
        self.progress(Progress(REFUSED, text))
        return True

    def refuse(self, text: str) -> None:
        """A failure that verify=False cannot wave through (a build that produced nothing)."""
        self.refusals.append(text)
        self.progress(Progress(REFUSED, text))

    def add(self, path: Path, precision: str, figure: str, seconds: float, size_bytes: int | None = None) -> None:
        size = size_bytes if size_bytes is not None else path.stat().st_size
        self.artifacts.append(Artifact(path, precision, size, figure, seconds))

    def publish(self, staged: Path) -> Path:
        """Move a verified staged file into the output folder (same file system: an atomic rename)."""
        final = self.options.out / staged.name
        staged.replace(final)
        self.note(f"wrote {final}")
        return final


def resolve_weights(weights: str | Path | None) -> Path:
    """The checkpoint to export: weights itself, or the shipped checkpoint for None; ExportUsageError if missing."""
    if weights is None:
        from msau.runtime.models import shipped_model

        try:
            return shipped_model(CHECKPOINT_SUFFIX)
        except FileNotFoundError as error:
            raise ExportUsageError(str(error)) from None
    path = Path(weights)
    if not path.is_file():
        raise ExportUsageError(f"{path}: no such checkpoint")
    return path


def check_options(options: ExportOptions) -> None:
    """ExportUsageError saying which option is wrong (the profile, opset, workspace, compatibility level)."""
    from msau.export.onnx_export import MIN_OPSET
    from msau.export.tensorrt_build import BuildOptions, ShapeProfile

    try:
        if options.opset is not None and options.opset < MIN_OPSET:
            raise ValueError(f"--opset must be at least {MIN_OPSET}, got {options.opset}")
        ShapeProfile(tuple(options.batch), tuple(options.size))
        BuildOptions(workspace_mb=options.workspace_mb, hardware_compatibility_level=options.hardware_compatibility)
    except ValueError as error:
        raise ExportUsageError(str(error)) from None
    if options.int8 and options.calibration is None:
        raise ExportUsageError("--int8 needs --calibration DIR: photos to calibrate on, not those you report on")


def check_output_folder(out: Path) -> None:
    """ExportUsageError unless out is a folder this process can write into, or can be created as one.

    Probed by creating (and removing) a temporary file in out or in its nearest existing parent: permission
    bits alone say nothing for root or on read-only mounts.
    """
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == out else f"lies under {existing}, which is a file"
        raise ExportUsageError(f"--out {out}: {where}, not a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".msau-export-probe-")
    except OSError as error:
        raise ExportUsageError(f"--out {out}: cannot write in {existing} ({error.strerror or error})") from None
    os.close(handle)
    os.unlink(probe)


def check_verification_photos(images: Path | None, max_pixels: int | None, option: str = "--images") -> None:
    """ExportUsageError naming the first photo of images whose header declares more than max_pixels pixels
    (checked before anything is decoded, so a decompression bomb costs nothing)."""
    if images is None:
        return
    from msau.model.data import find_images
    from msau.runtime.image_header import read_header
    from msau.runtime.limits import DEFAULT_MAX_PIXELS, check_max_pixels

    try:
        limit = check_max_pixels(DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
    except ValueError as error:
        raise ExportUsageError(f"--max-pixels: {error}") from None
    try:
        paths = find_images(images)
    except ValueError as error:
        raise ExportUsageError(f"{option}: {error}") from None
    for path in paths:
        try:
            header = read_header(path.read_bytes())
        except OSError as error:
            raise ExportUsageError(f"{option}: {path}: cannot read ({error.strerror or error})") from None
        if header is not None and header.pixels > limit:
            raise ExportUsageError(
                f"{option}: {path}: {header.width}x{header.height} pixels is over the limit of {limit:,} pixels"
            )


def probe_engine_target(options: ExportOptions):
    """The TensorRT target for --engine (None without --engine); ExportUsageError without TensorRT or a GPU."""
    if not options.engine:
        return None
    from msau.export.tensorrt_build import GpuUnavailableError, probe_tensorrt
    from msau.runtime.backends.base import MissingDependencyError

    try:
        return probe_tensorrt()
    except (MissingDependencyError, GpuUnavailableError) as error:
        raise ExportUsageError(f"--engine: {error}") from None


def rebuild_command(options: ExportOptions, weights: Path) -> str:
    """The msau-export command line that rebuilds this engine (recorded in its sidecar)."""
    words = ["msau-export", "--weights", str(weights), "--out", str(options.out), "--engine"]
    words += ["--fp16"] if options.fp16 else []
    words += ["--batch", ",".join(map(str, options.batch)), "--size", ",".join(map(str, options.size))]
    if options.hardware_compatibility != "none":
        words += ["--hardware-compatibility", options.hardware_compatibility]
    return shlex.join(words)


def _check_graph(run: _Run, model, path: Path) -> bool:
    """onnx.checker (full), the I/O contract and TensorRT op support of a staged graph; True if it is refused."""
    from msau.export import checks
    from msau.export.tensorrt_onnx_ops import TENSORRT_VERSION, tensorrt_problems

    refused = False
    with run.step("checking: onnx.checker (full), I/O contract, TensorRT parser op support"):
        try:
            checks.check_onnx(path)
            checks.check_contract(model, path.name)
        except checks.VerificationError as error:
            refused |= run.fail(str(error))
        problems = tensorrt_problems(model)
        if not problems:
            run.note(f"every op type and data type is supported by TensorRT {TENSORRT_VERSION}'s ONNX parser")
        else:
            text = f"TensorRT {TENSORRT_VERSION}'s ONNX parser would reject {path.name}: " + "; ".join(problems)
            if run.options.engine:  # refuses only when an engine is wanted
                refused |= run.fail(text)
            else:
                run.note(f"warning: {text}")
    return refused


def _export_fp32(run: _Run, model, data, opset: int) -> Path | None:
    """Export, check and compare with PyTorch; publish only if it passes (or verify is off)."""
    import onnx

    from msau.export import checks
    from msau.export.onnx_export import export_model

    refused = False
    started = time.perf_counter()
    staged = artifact_path(run.staging, run.stem, ONNX_SUFFIX)
    with run.step(f"exporting ONNX (opset {opset}, dynamic batch/height/width)"):
        result = export_model(model, staged, opset=opset, size=run.options.size[1])
        run.note(
            f"simplified by onnxslim: {result.nodes_exported} -> {result.nodes_written} nodes"
            if result.simplified
            else f"{result.nodes_written} nodes (onnxslim found nothing to remove)"
        )
    refused |= _check_graph(run, onnx.load(str(staged)), staged)
    with run.step(f"parity with PyTorch on ONNX Runtime CPU ({data.source}, {len(data)} images)"):
        parity = checks.torch_parity(model, staged, data)
        run.note(parity.summary())
        if not parity.passed:
            refused |= run.fail(f"{staged.name}: {parity.summary()}")
    if refused:
        return None
    final = run.publish(staged)
    run.add(final, "fp32", f"max abs err {parity.max_abs_error:.1e} vs PyTorch", time.perf_counter() - started)
    return final


def _export_fp16(run: _Run, fp32_path: Path, data) -> Path | None:
    """Convert to FP16, gate against the FP32 graph; publish only if it passes (or verify is off)."""
    import onnx

    from msau.export import checks
    from msau.export.fp16 import convert_fp16, divergent_nodes
    from msau.export.onnx_export import save_onnx

    refused = False
    started = time.perf_counter()
    fp32_model = onnx.load(str(fp32_path))
    staged = artifact_path(run.staging, run.stem, ONNX_SUFFIX, "fp16")
    with run.step("converting to FP16 (float32 inputs and outputs)"):
        fp16_model, conversion = convert_fp16(fp32_model)
        save_onnx(fp16_model, staged)
        run.note(conversion.summary())
    refused |= _check_graph(run, fp16_model, staged)
    with run.step(f"FP16 gate: FP16 vs FP32 ONNX on ONNX Runtime CPU ({len(data)} images)"):
        gate = checks.fp16_gate(fp32_path, staged, data)
        run.note(gate.summary())
        if not gate.passed:
            culprits = divergent_nodes(fp32_model, fp16_model, data.inputs)
            types = sorted({c.op_type for c in culprits})
            detail = "; ".join(c.describe() for c in culprits)
            refused |= run.fail(
                f"{staged.name} fails the FP16 gate: {gate.summary()}. Offending node types: {', '.join(types) or 'none found'}"
                f" ({detail})"
            )
    if refused:
        return None
    final = run.publish(staged)
    figure = f"out {gate.output_psnr:.1f} dB, img {gate.image_psnr_delta:+.3f} dB vs fp32"
    run.add(final, "fp16", figure, time.perf_counter() - started)
    return final


def _export_int8(run: _Run, fp32_path: Path, data) -> Path | None:
    """Quantize to INT8 (calibrated on options.calibration), gate against the FP32 graph as served; publish only
    if it passes (or verify is off)."""
    import onnx

    from msau.export import checks
    from msau.export.int8 import calibration_set, quantize_int8

    started = time.perf_counter()
    staged = artifact_path(run.staging, run.stem, ONNX_SUFFIX, "int8")
    try:
        calibration = calibration_set(run.options.calibration, run.options.size[1])
    except ValueError as error:
        run.refuse(f"{staged.name}: --calibration: {error}")
        return None
    what = f"quantizing to INT8 (QDQ, {calibration.source}); gate: image PSNR as served vs FP32 ({len(data)} images)"
    with run.step(what):
        report = quantize_int8(fp32_path, staged, calibration, data, write_failed=not run.options.verify)
        run.note(report.summary())
    if not report.passed and run.fail(f"{staged.name} fails the INT8 gate: {report.summary()}"):
        return None
    if not report.written:
        return None
    with run.step("checking: onnx.checker (full), I/O contract"):  # not TensorRT's parser: INT8 is for the CPU
        try:
            checks.check_onnx(staged)
            checks.check_contract(onnx.load(str(staged)), staged.name)
        except checks.VerificationError as error:
            if run.fail(str(error)):
                return None
    final = run.publish(staged)
    figure = f"out {report.output_psnr:.1f} dB, served {report.image_psnr_delta:+.3f} dB vs fp32"
    run.add(final, "int8", figure, time.perf_counter() - started)
    return final


def _build_engine(run: _Run, onnx_path: Path, fp32_path: Path, precision: str, target, data, weights: Path) -> Path | None:
    """Build (or reuse) the TensorRT engine; the plan is run on the verification set, by the runtime's runner,
    before it is written."""
    from msau.export import checks
    from msau.export.samples import image_psnr
    from msau.export.tensorrt_build import BuildOptions, EngineBuildError, ShapeProfile, build_engine
    from msau.runtime.backends.base import BackendError
    from msau.runtime.backends.tensorrt import TensorRTBackend

    options = run.options
    profile = ShapeProfile(tuple(options.batch), tuple(options.size))
    build_options = BuildOptions(workspace_mb=options.workspace_mb, hardware_compatibility_level=options.hardware_compatibility)
    timing_cache = options.timing_cache or options.out / TIMING_CACHE_NAME
    reference = checks.run_onnx(fp32_path, data.inputs)
    engine_path = artifact_path(options.out, run.stem, ENGINE_SUFFIX, precision)
    figures: dict[str, float] = {}

    def verify(plan: bytes) -> None:
        with TensorRTBackend.from_plan(plan, precision, label=engine_path.name) as runner:  # loaded once
            result = runner.infer(data.inputs)
        figures["psnr"] = checks.output_psnr(reference, result)
        figures["delta"] = image_psnr(result, data) - image_psnr(reference, data)
        text = (
            f"engine vs FP32 ONNX: output PSNR {figures['psnr']:.1f} dB (min {checks.FP16_MIN_OUTPUT_PSNR:g}), "
            f"image PSNR delta {figures['delta']:+.3f} dB (limit +-{checks.FP16_MAX_IMAGE_PSNR_DELTA:g})"
        )
        run.note(text)
        passed = figures["psnr"] >= checks.FP16_MIN_OUTPUT_PSNR and abs(figures["delta"]) <= checks.FP16_MAX_IMAGE_PSNR_DELTA
        if not passed and options.verify:
            raise checks.VerificationError(f"{engine_path.name} fails its gate: {text}")

    what = (
        f"TensorRT {target.tensorrt_version} engine on {target.gpu_name} (compute capability {target.compute_capability}): "
        f"{precision}, batch {options.batch}, size {options.size}, workspace {options.workspace_mb} MB, "
        f"timing cache {timing_cache}"
    )
    with run.step(what):
        try:
            result = build_engine(
                onnx_path, engine_path, precision, profile, build_options, timing_cache=timing_cache, target=target,
                force=options.force, verify=verify, extra={"rebuild_command": rebuild_command(options, weights)},
            )
        except (EngineBuildError, checks.VerificationError, BackendError) as error:  # BackendError: CUDA failures
            run.refuse(str(error))
            return None
        if result.skipped:
            run.note(f"kept {engine_path.name}: an engine with the same key exists (use --force to rebuild)")
        else:
            run.note(f"wrote {engine_path} and {result.sidecar_path.name}")
    figure = f"out {figures['psnr']:.1f} dB, img {figures['delta']:+.3f} dB vs fp32" if figures else "unchanged (same key)"
    run.add(engine_path, precision, figure, result.seconds)
    return engine_path


def _export_openvino(run: _Run, fp32_path: Path, data) -> Path | None:
    """Measure OpenVINO from IR vs ONNX; write the IR only if it helps."""
    from msau.export.openvino_ir import decide, measure_openvino, save_ir

    started = time.perf_counter()
    with run.step("measuring OpenVINO on CPU: ONNX vs IR (fp32 / fp16 weights), f32 and bf16 inference"):
        decision = decide(measure_openvino(fp32_path, data))
        run.note(f"{'source':8}  {'precision':9}  {'size MB':>7}  {'load s':>6}  {'latency ms':>10}  {'PSNR dB':>7}")
        for f in decision.figures:
            run.note(
                f"{f.source:8}  {f.precision:9}  {f.size_mb:7.2f}  {f.load_seconds:6.3f}  {f.latency_ms:10.1f}  {f.output_psnr:7.1f}"
            )
        run.note(f"decision: {decision.reason}")
    if decision.chosen is None:
        return None
    xml = save_ir(fp32_path, artifact_path(run.options.out, run.stem, IR_SUFFIX), compress_to_fp16=decision.chosen == "ir-fp16")
    run.note(f"wrote {xml} and {xml.with_suffix('.bin').name}")
    figure = f"out {decision.figure(decision.chosen, 'f32').output_psnr:.1f} dB vs ORT"
    size = xml.stat().st_size + xml.with_suffix(".bin").stat().st_size
    weights = "fp16 weights" if decision.chosen == "ir-fp16" else "fp32"
    run.add(xml, weights, figure, time.perf_counter() - started, size)
    return xml


def export(
    weights: str | Path | None, options: ExportOptions, progress: ProgressCallback | None = None
) -> list[Artifact]:
    """Export a checkpoint (None: the shipped one) as options ask; the artifacts written, in order.

    Every option, the output folder, the verification photos' sizes and (for an engine) TensorRT and the GPU
    are checked before the model is loaded: ExportUsageError, nothing written. An artifact that fails its gate
    is not written (unless options.verify is False) and the export ends in ExportRefused, which carries the
    artifacts that were written. progress receives every step, note and refusal as it happens.
    """
    progress = progress or _noop
    check_options(options)
    weights = resolve_weights(weights)
    check_output_folder(options.out)
    check_verification_photos(options.images, options.max_pixels)
    if options.int8:
        check_verification_photos(options.calibration, options.max_pixels, "--calibration")
    target = probe_engine_target(options)  # before anything is written: an engine that cannot be built fails fast

    from msau.export.onnx_export import DEFAULT_OPSET

    opset = options.opset if options.opset is not None else DEFAULT_OPSET
    started = time.perf_counter()
    progress(Progress(STEP, f"loading {weights}"))
    from msau.model.checkpoint import load_checkpoint
    from msau.model.network import count_parameters

    try:
        model, _ = load_checkpoint(weights)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        raise ExportUsageError(str(error)) from None
    progress(Progress(NOTE, f"widths {list(model.config.widths)}, {count_parameters(model) / 1e6:.2f}M parameters"))
    progress(Progress(DONE, f"loading {weights}", time.perf_counter() - started))

    size = options.size[1]
    started = time.perf_counter()
    progress(Progress(STEP, f"preparing verification inputs at {size}x{size}"))
    from msau.export.samples import HINT_RATIO, default_verification_set

    try:
        data = default_verification_set(size, options.images)
    except ValueError as error:
        raise ExportUsageError(f"--images: {error}") from None
    progress(Progress(NOTE, f"{data.source}, {HINT_RATIO:.0%} of pixels as hints sampled from each photo"))
    progress(Progress(DONE, "preparing verification inputs", time.perf_counter() - started))

    options.out.mkdir(parents=True, exist_ok=True)
    stem = options.name or model_stem(weights)
    with tempfile.TemporaryDirectory(dir=options.out, prefix=".msau-export-") as staging:
        run = _Run(options, stem, Path(staging), progress)
        fp32_path = _export_fp32(run, model, data, opset)
        fp16_path = _export_fp16(run, fp32_path, data) if fp32_path is not None and options.fp16 else None
        if options.int8 and fp32_path is not None:
            _export_int8(run, fp32_path, data)
        if target is not None and fp32_path is not None:
            source, precision = (fp16_path, "fp16") if options.fp16 else (fp32_path, "fp32")
            if source is not None:
                _build_engine(run, source, fp32_path, precision, target, data, weights)
            else:
                run.note("no TensorRT engine: its FP16 ONNX was refused")
        if options.openvino and fp32_path is not None:
            _export_openvino(run, fp32_path, data)
    if run.refusals:
        raise ExportRefused(run.artifacts, run.refusals)
    return run.artifacts
