"""Does the batch pipeline keep the backend busy? msau-run's pipeline against the backend alone, per batch size.

Issue 16 asks that `msau-run` on a folder of 512x512 photos reach at least 90 % of the backend's own images/s at
the backend's best batch size, decode, encode and the runtime's work being overlapped in threads
(msau.runtime.batch). This module measures exactly that, with one Colorizer:

- a temporary folder gets N generated colour photos, written as grayscale JPEG (or PNG) files, and one hint file
  per photo (`<stem>.json`, 0.5 % of its pixels sampled from the colour photo, in the document layout of
  msau.benchmarks.host_stages.hints_document: what a user sends);
- per batch size, in ascending order: (a) the backend's own images/s: Colorizer.infer on already prepared inputs
  of that batch size (the first photos of the folder), one warm-up call, then timed calls until budget_s has
  passed and at least min_runs were made, no I/O; then (b) the pipeline's images/s: run_jobs on the whole folder
  with that batch size and msau-run's number of reading/writing threads, writing the results into a fresh
  output folder; the jobs are the ones msau-run makes for `msau-run PHOTOS --hints HINTS -o OUT` (the runtime's
  own discover and plan_jobs), and the figure is run_jobs' own (done / wall time, as msau-run reports it);
- the ratio pipeline / backend per batch size, and the issue's figure: at the batch size where the backend is
  fastest, the pipeline's images/s over the backend's;
- what the machine's cores allow: the pipeline's own work per photo (reading, hints, prepare; finish, encoding,
  writing), timed in CPU time one photo at a time by run_jobs' own job functions, and the backend's CPU time per
  image. Where the CPU is what limits a batch run, the cores' CPU-seconds per second bound the pipeline at
  about cores / (backend + host CPU seconds per photo) images/s; that over the backend's images/s is the share a
  perfect overlap would reach (an estimate: a backend's threads that spin while they wait count as busy, so a
  pipeline whose threads use that time can pass it). On 2 cores with a CPU backend it is far below 90 %: the
  backend alone already keeps both cores busy.

The backend is measured first at each batch size, so that a backend that compiles per input shape (OpenVINO) has
done so before the pipeline is timed. Nothing here prints; progress lines go to a callback.
"""

from __future__ import annotations

import datetime
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import msau
from msau.benchmarks.configs import FAILED, OK, run_error
from msau.benchmarks.host_stages import HINT_RATIO, hints_document
from msau.benchmarks.latency import timing_summary
from msau.benchmarks.photos import synthetic_photo
from msau.runtime.batch import DEFAULT_WORKERS, Job, Result, Summary, finish_job, load_job, run_jobs
from msau.runtime.colorizer import Colorizer, Prepared
from msau.runtime.image_io import DEFAULT_JPEG_QUALITY, WRITE_FORMATS, read_image, write_image

DEFAULT_IMAGES = 64
DEFAULT_PHOTO_SIZE = 512
DEFAULT_BATCH_SIZES = (1, 4, 8, 16)
DEFAULT_BUDGET_S = 2.0  # timed seconds of backend calls per batch size
DEFAULT_MIN_RUNS = 3
DEFAULT_INPUT_FORMAT = "jpg"
DEFAULT_OUTPUT_FORMAT = "png"  # msau-run's default
TARGET_RATIO = 0.9  # issue 16: the pipeline reaches at least 90 % of the backend's images/s
PHOTOS, HINTS, OUTPUTS = "photos", "hints", "out"
HOST_SAMPLE = 8  # photos whose host work is timed, after one untimed photo (numba compiles on first use)
HOST_OUTPUTS = "host"  # the folder under OUTPUTS those photos are written to

Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class PipelineSettings:
    """What the pipeline benchmark generates and measures; ValueError (saying what is wrong) for bad values."""

    images: int = DEFAULT_IMAGES  # photos in the folder
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    photo_size: int = DEFAULT_PHOTO_SIZE  # side of the square generated photos, in pixels
    input_format: str = DEFAULT_INPUT_FORMAT  # the grayscale photos' files: jpg or png
    output_format: str = DEFAULT_OUTPUT_FORMAT  # the results' files: png or jpg
    hint_ratio: float = HINT_RATIO
    workers: int = DEFAULT_WORKERS  # run_jobs' reading and writing threads
    budget_s: float = DEFAULT_BUDGET_S
    min_runs: int = DEFAULT_MIN_RUNS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.images < 1:
            raise ValueError(f"the number of photos (--images) must be at least 1, got {self.images}")
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch sizes must be positive integers, got {' '.join(map(str, self.batch_sizes))}")
        too_large = [b for b in self.batch_sizes if b > self.images]
        if too_large:
            raise ValueError(
                f"batch size {max(too_large)} is larger than the {self.images} photos (--images): the pipeline "
                "would never fill one batch; use more photos or smaller batches"
            )
        if self.photo_size < 1:
            raise ValueError(f"the photo size must be at least 1 pixel, got {self.photo_size}")
        for name, value in (("input", self.input_format), ("output", self.output_format)):
            if value not in WRITE_FORMATS:
                raise ValueError(f"the {name} format must be one of {', '.join(sorted(WRITE_FORMATS))}, got {value!r}")
        if not 0 <= self.hint_ratio <= 1:
            raise ValueError(f"the hint ratio must be in 0..1, got {self.hint_ratio}")
        if self.workers < 1:
            raise ValueError(f"the number of reading/writing threads must be at least 1, got {self.workers}")
        if not self.budget_s > 0:
            raise ValueError(f"the budget must be a positive number of seconds, got {self.budget_s}")
        if self.min_runs < 1:
            raise ValueError(f"the minimum number of backend runs must be at least 1, got {self.min_runs}")


@dataclass(frozen=True)
class Folder:
    """The generated inputs: grayscale photos and their hint files, and the jobs msau-run makes for them."""

    photos: Path
    hints: Path
    files: tuple[Path, ...]


@dataclass
class BackendFigure:
    """The backend alone at one batch size: status, reason, and timing_summary's figures when it ran."""

    status: str = OK
    reason: str = ""
    runs: int = 0
    images_per_s: float | None = None
    latency_ms: dict = field(default_factory=dict)  # per call (count, mean, p50, p90, p99, min, max, std)
    per_image_ms: dict = field(default_factory=dict)
    cpu_ms_per_image: float | None = None  # the process's CPU time over the timed calls, per image (all threads)


@dataclass
class HostWork:
    """The pipeline's own work per photo besides the backend, in ms of the process's CPU time (median over photos
    run one at a time through run_jobs' job functions): load = read, decode, parse the hints, prepare; finish =
    finish the colour photo from the network's ab, encode, write."""

    status: str = OK
    reason: str = ""
    photos: int = 0
    load_ms: float | None = None
    finish_ms: float | None = None

    @property
    def total_ms(self) -> float | None:
        return None if self.load_ms is None or self.finish_ms is None else self.load_ms + self.finish_ms

    def to_json(self) -> dict:
        return {**asdict(self), "total_ms": self.total_ms}


def cores_allow(backend: BackendFigure, host: HostWork, cores: int) -> float | None:
    """The share of the backend's images/s that the pipeline can reach where CPU time is what limits it:
    the cores give `cores` CPU-seconds per second and each photo takes the backend's CPU time per image plus the
    host work's, so cores / (both, in s) images/s; 1 where that is more than the backend's own rate (a GPU backend
    beside many cores). None unless both were measured. An estimate, not a bound: a backend's threads that spin
    while they wait count as busy, and a pipeline whose threads use that time passes it."""
    if backend.status != OK or host.status != OK or not backend.images_per_s or backend.cpu_ms_per_image is None:
        return None
    seconds_per_photo = (backend.cpu_ms_per_image + host.total_ms) / 1000.0
    return min(1.0, cores / (seconds_per_photo * backend.images_per_s)) if seconds_per_photo > 0 else 1.0


@dataclass
class PipelineFigure:
    """run_jobs on the whole folder at one batch size."""

    status: str = OK
    reason: str = ""
    images: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    outputs_written: int = 0  # output files found on disk after the run
    seconds: float | None = None
    images_per_s: float | None = None
    failures: list[str] = field(default_factory=list)  # one line per failed photo, as msau-run prints them


@dataclass
class BatchRow:
    """One batch size: the backend's figure, the pipeline's, and pipeline / backend images/s."""

    batch: int
    backend: BackendFigure
    pipeline: PipelineFigure
    final_batch: int  # photos in the pipeline's last backend call (the batch size unless N is not a multiple of it)
    cores_allow: float | None = None  # cores_allow() at this batch size

    @property
    def ratio(self) -> float | None:
        """Pipeline images/s over the backend's; None unless both ran."""
        ours, theirs = self.pipeline.images_per_s, self.backend.images_per_s
        if self.backend.status != OK or self.pipeline.status != OK or not ours or not theirs:
            return None
        return ours / theirs

    @property
    def of_allowed(self) -> float | None:
        """ratio over cores_allow: how much of what the cores allow the pipeline reached."""
        return None if self.ratio is None or not self.cores_allow else self.ratio / self.cores_allow

    def to_json(self) -> dict:
        return {
            "batch": self.batch,
            "final_batch": self.final_batch,
            "backend": asdict(self.backend),
            "pipeline": asdict(self.pipeline),
            "ratio": self.ratio,
            "cores_allow": self.cores_allow,
            "of_allowed": self.of_allowed,
        }


@dataclass
class PipelineOutcome:
    """The whole measurement: what ran, the rows in batch-size order, and the figure at the backend's best."""

    colorizer: dict  # description, backend, precision, device, model, size, refine
    settings: PipelineSettings
    rows: list[BatchRow]
    prepare_s: float  # seconds spent writing the photos and hint files (not part of any figure)
    elapsed_s: float
    load_at_start: list[float] | None = None  # 1/5/15-minute load averages when the measurement began
    host_work: HostWork = field(default_factory=HostWork)
    cores: int | None = None  # the cores this process may run on

    @property
    def best(self) -> BatchRow | None:
        """The row of the batch size at which the backend alone is fastest (None if it never ran)."""
        ran = [row for row in self.rows if row.backend.status == OK and row.backend.images_per_s]
        return max(ran, key=lambda row: row.backend.images_per_s) if ran else None

    @property
    def ok(self) -> bool:
        """True when every backend measurement ran and every photo was colorized at every batch size."""
        return all(
            row.backend.status == OK and row.pipeline.status == OK and row.pipeline.done == row.pipeline.images
            for row in self.rows
        )

    def best_json(self) -> dict | None:
        """The issue's figure: at the backend's best batch size, the pipeline's images/s over the backend's."""
        row = self.best
        if row is None:
            return None
        ratio = row.ratio
        return {
            "batch": row.batch,
            "backend_images_per_s": row.backend.images_per_s,
            "pipeline_images_per_s": row.pipeline.images_per_s,
            "ratio": ratio,
            "target": TARGET_RATIO,
            "meets_target": None if ratio is None else ratio >= TARGET_RATIO,
            "cores_allow": row.cores_allow,
            "of_allowed": row.of_allowed,
        }


def write_folder(root: Path, settings: PipelineSettings) -> Folder:
    """settings.images grayscale photos in root/photos (photo_000.jpg, ...) and their hint files in root/hints
    (photo_000.json: hints sampled from the colour photo, seed settings.seed + i)."""
    import cv2

    photos, hints = root / PHOTOS, root / HINTS
    photos.mkdir(parents=True, exist_ok=True)
    hints.mkdir(parents=True, exist_ok=True)
    suffix = WRITE_FORMATS[settings.input_format]
    digits = max(3, len(str(settings.images - 1)))
    files = []
    for index in range(settings.images):
        seed = settings.seed + index
        photo = synthetic_photo(settings.photo_size, seed)
        stem = f"photo_{index:0{digits}d}"
        gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
        files.append(write_image(photos / f"{stem}{suffix}", gray, DEFAULT_JPEG_QUALITY))
        document = hints_document(photo, settings.hint_ratio, seed)
        (hints / f"{stem}.json").write_text(json.dumps(document), encoding="utf-8")
    return Folder(photos, hints, tuple(files))


def plan_folder(folder: Folder, out: Path, output_format: str = DEFAULT_OUTPUT_FORMAT) -> tuple[list[Job], list[Result]]:
    """The jobs (and results already known) that `msau-run PHOTOS --hints HINTS -o OUT --format FORMAT` makes,
    by msau-run's own code: msau.runtime.inputs.discover, then plan_jobs."""
    from msau.runtime.inputs import discover, plan_jobs

    inputs, _ = discover([str(folder.photos)], recursive=False, exclude=out)
    return plan_jobs(inputs, out, WRITE_FORMATS[output_format], folder.hints)


def msau_run_command(folder: Folder, out: Path, batch: int, settings: PipelineSettings) -> str:
    """The msau-run command line whose work one pipeline measurement does (model and backend options aside)."""
    return (
        f"msau-run {folder.photos} --hints {folder.hints} -o {out} --batch-size {batch} "
        f"--workers {settings.workers} --format {settings.output_format}"
    )


def measure_backend(
    colorizer: Colorizer,
    prepared: Sequence[Prepared],
    settings: PipelineSettings,
    clock: Callable[[], float] = time.perf_counter,
    cpu_clock: Callable[[], float] = time.process_time,
) -> BackendFigure:
    """The backend's own images/s at len(prepared) photos per call: Colorizer.infer on the same prepared inputs,
    one warm-up call, then timed calls until settings.budget_s has passed and settings.min_runs were made; and the
    process's CPU time over those calls per image."""
    batch = len(prepared)
    try:
        colorizer.infer(prepared)  # warm-up: a backend that compiles per shape does it here
        samples: list[float] = []
        began, cpu_began = clock(), cpu_clock()
        while len(samples) < settings.min_runs or clock() - began < settings.budget_s:
            start = clock()
            colorizer.infer(prepared)
            samples.append(clock() - start)
        cpu_s = cpu_clock() - cpu_began
    except Exception as error:  # a backend that breaks fails this measurement, not the benchmark
        return BackendFigure(status=FAILED, reason=run_error(error))
    figures = timing_summary(samples, batch)
    return BackendFigure(
        runs=figures["runs"],
        images_per_s=figures["images_per_s"],
        latency_ms=figures["latency_ms"],
        per_image_ms=figures["per_image_ms"],
        cpu_ms_per_image=1000.0 * cpu_s / (len(samples) * batch),
    )


def measure_host_work(
    colorizer: Colorizer, jobs: Sequence[Job], cpu_clock: Callable[[], float] = time.process_time
) -> HostWork:
    """HostWork over up to HOST_SAMPLE of the jobs, one photo at a time (the first one untimed: numba compiles
    on first use): run_jobs' load_job, one backend call (not counted), then its finish_job, which writes the
    photo where the job says."""
    timed = list(jobs[: HOST_SAMPLE + 1])
    timed = [timed[0]] + timed if len(timed) == 1 else timed  # a lone photo: once untimed, once timed
    loads: list[float] = []
    finishes: list[float] = []
    try:
        for index, job in enumerate(timed):
            start = cpu_clock()
            loaded = load_job(colorizer, job)
            loaded_at = cpu_clock()
            ab = colorizer.infer([loaded.prepared])[0]  # (2, size, size)
            finish_began = cpu_clock()
            finish_job(colorizer, loaded, ab, DEFAULT_JPEG_QUALITY)
            if index:
                loads.append(loaded_at - start)
                finishes.append(cpu_clock() - finish_began)
    except Exception as error:  # a photo that fails here fails this figure, not the benchmark
        return HostWork(status=FAILED, reason=run_error(error))
    return HostWork(
        photos=len(loads), load_ms=1000.0 * float(np.median(loads)), finish_ms=1000.0 * float(np.median(finishes))
    )


def measure_pipeline(
    colorizer: Colorizer, jobs: Sequence[Job], known: Sequence[Result], batch: int, settings: PipelineSettings
) -> PipelineFigure:
    """run_jobs on the jobs at this batch size, as msau-run runs them (its images/s: done over wall time)."""
    figure = PipelineFigure(images=len(jobs) + len(known))
    summary = Summary()
    for result in known:  # never expected here (fresh names, fresh folder); counted as msau-run counts them
        summary.add(result)
    try:
        ran = run_jobs(colorizer, jobs, batch, settings.workers)
    except Exception as error:  # the pipeline itself broke (not one photo: those are counted as failed)
        figure.status, figure.reason = FAILED, run_error(error)
        return figure
    figure.done, figure.skipped = ran.done + summary.done, ran.skipped + summary.skipped
    figure.failed = ran.failed + summary.failed
    figure.failures = [result.message for result in summary.failures + ran.failures]
    figure.seconds = ran.seconds
    figure.images_per_s = ran.images_per_second
    figure.outputs_written = sum(job.output.is_file() for job in jobs)
    return figure


def describe_colorizer(colorizer: Colorizer) -> dict:
    """What runs: the Colorizer's one-line description, backend, precision, device, model file, size, refine."""
    backend = colorizer.backend
    return {
        "description": colorizer.describe(),
        "backend": getattr(backend, "name", None),
        "precision": getattr(backend, "precision", None),
        "device": None if getattr(backend, "device", None) is None else str(backend.device),
        "model": str(getattr(backend, "model_path", "")),
        "size": colorizer.size,
        "refine": colorizer.refine,
    }


def run_pipeline_benchmark(
    colorizer: Colorizer,
    settings: PipelineSettings = PipelineSettings(),
    work_dir: Path | None = None,
    progress: Progress = None,
    clock: Callable[[], float] = time.perf_counter,
) -> PipelineOutcome:
    """Generate the folder, then per batch size (ascending) measure the backend alone and the pipeline.

    work_dir None: a temporary folder, removed at the end (each batch size's outputs as soon as they are
    counted). Given: the photos (work_dir/photos), hints (work_dir/hints) and every batch size's outputs
    (work_dir/out/b<batch>) are kept there.
    """
    from msau.benchmarks.hostinfo import load_average, usable_cores

    say = progress or (lambda line: None)
    load = load_average()
    began = clock()
    with tempfile.TemporaryDirectory(prefix="msau-bench-pipeline-") as temporary:
        root = Path(work_dir) if work_dir is not None else Path(temporary)
        folder = write_folder(root, settings)
        prepare_s = clock() - began
        say(
            f"pipeline: wrote {settings.images} grayscale {settings.photo_size}x{settings.photo_size} "
            f"{settings.input_format} photos and their hint files in {prepare_s:.1f} s"
        )
        largest = max(settings.batch_sizes)
        # The backend's inputs: the first photos of the folder, read and prepared once (no I/O while timed).
        prepared = [colorizer.prepare(read_image(path, colorizer.max_pixels), folder.hints / f"{path.stem}.json")
                    for path in folder.files[:largest]]
        host_out = root / OUTPUTS / HOST_OUTPUTS
        host_jobs, _ = plan_folder(folder, host_out, settings.output_format)
        host = measure_host_work(colorizer, host_jobs)
        if work_dir is None:
            shutil.rmtree(host_out, ignore_errors=True)
        if host.status == OK:
            say(
                f"pipeline: host work per photo (CPU time, {host.photos} photos one at a time): read + hints + "
                f"prepare {host.load_ms:.1f} ms, finish + encode + write {host.finish_ms:.1f} ms"
            )
        else:
            say(f"pipeline: host work failed: {host.reason}")
        cores = usable_cores()
        rows = []
        for batch in sorted(set(settings.batch_sizes)):
            backend = measure_backend(colorizer, prepared[:batch], settings, clock)
            if backend.status == OK:
                say(f"pipeline: batch {batch}: backend alone {backend.images_per_s:.1f} images/s ({backend.runs} calls)")
            else:
                say(f"pipeline: batch {batch}: backend failed: {backend.reason}")
            out = root / OUTPUTS / f"b{batch}"
            jobs, known = plan_folder(folder, out, settings.output_format)
            say(f"pipeline: batch {batch}: {msau_run_command(folder, out, batch, settings)}")
            pipeline = measure_pipeline(colorizer, jobs, known, batch, settings)
            row = BatchRow(batch, backend, pipeline, settings.images % batch or batch, cores_allow(backend, host, cores))
            if pipeline.status != OK:
                say(f"pipeline: batch {batch}: pipeline failed: {pipeline.reason}")
            else:
                ratio = "" if row.ratio is None else f", {row.ratio:.2f} of the backend"
                say(
                    f"pipeline: batch {batch}: pipeline {pipeline.done} of {pipeline.images} photos in "
                    f"{pipeline.seconds:.2f} s, {pipeline.images_per_s:.1f} images/s{ratio}"
                )
                for line in pipeline.failures:
                    say(f"pipeline: batch {batch}: {line}")
            rows.append(row)
            if work_dir is None:
                shutil.rmtree(out, ignore_errors=True)  # 64 results of 512x512 add up; they are counted already
    return PipelineOutcome(
        describe_colorizer(colorizer), settings, rows, prepare_s, clock() - began, load, host_work=host, cores=cores
    )


def pipeline_document(outcome: PipelineOutcome, command: str, host: dict | None = None) -> dict:
    """The result document that --json writes: kind "pipeline", the command, the host (CPU model and flags
    among its facts; its load average is the one at the start), what ran, the settings, one row per batch size
    and the issue's figure ("best")."""
    from msau.benchmarks.hostinfo import host_facts

    if host is None:
        host = {**host_facts(), "load_average": outcome.load_at_start}
    return {
        "kind": "pipeline",
        "msau_version": msau.__version__,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "host": host,
        "colorizer": outcome.colorizer,
        "settings": asdict(outcome.settings),
        "results": [row.to_json() for row in outcome.rows],
        "best": outcome.best_json(),
        "host_work": outcome.host_work.to_json(),
        "cores": outcome.cores,
        "prepare_s": outcome.prepare_s,
        "elapsed_s": outcome.elapsed_s,
    }


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _host_work_line(document: dict) -> str:
    """What the pipeline's own work costs per photo and what that leaves at the backend's best batch size."""
    host = document.get("host_work") or {}
    if host.get("status") != OK or host.get("total_ms") is None:
        return f"host work per photo: not measured ({host.get('reason') or 'no figure'})"
    line = (
        f"host work per photo (CPU time): read + hints + prepare {host['load_ms']:.1f} ms, finish + encode + write "
        f"{host['finish_ms']:.1f} ms"
    )
    best = document.get("best") or {}
    if best.get("cores_allow") is not None:
        reached = "" if best.get("of_allowed") is None else f"; the pipeline reached {best['of_allowed'] * 100:.0f} % of that"
        line += (
            f"; with the backend's CPU time, {document['cores']} cores allow about {best['cores_allow'] * 100:.0f} % "
            f"of the backend's images/s at batch {best['batch']}{reached}"
        )
    return line


def pipeline_text(document: dict) -> str:
    """The tables msau-bench pipeline prints: one row per batch size, then the issue's figure and the host."""
    from msau.benchmarks.report import host_lines, text_table

    headers = [
        "batch", "backend images/s", "backend CPU ms/img", "pipeline images/s", "pipeline/backend", "cores allow",
        "of allowed", "pipeline s", "done", "failed",
    ]
    rows = []
    for row in document["results"]:
        backend, pipeline = row["backend"], row["pipeline"]
        rows.append(
            [
                str(row["batch"]) + ("" if row["final_batch"] == row["batch"] else f" (last {row['final_batch']})"),
                _number(backend["images_per_s"]) if backend["status"] == OK else f"{backend['status']}: {backend['reason']}",
                _number(backend.get("cpu_ms_per_image")),
                _number(pipeline["images_per_s"]) if pipeline["status"] == OK else f"{pipeline['status']}: {pipeline['reason']}",
                _number(row["ratio"], 2),
                _number(row.get("cores_allow"), 2),
                _number(row.get("of_allowed"), 2),
                _number(pipeline["seconds"], 2),
                f"{pipeline['done']}/{pipeline['images']}",
                str(pipeline["failed"]),
            ]
        )
    settings, colorizer = document["settings"], document["colorizer"]
    title = (
        f"Pipeline vs backend ({colorizer['description']}; {settings['images']} grayscale "
        f"{settings['photo_size']}x{settings['photo_size']} {settings['input_format']} photos, "
        f"{settings['hint_ratio'] * 100:g} % hints, {settings['workers']} reading/writing threads, "
        f"{settings['output_format']} out)"
    )
    lines = [title, text_table(headers, rows), ""]
    best = document.get("best")
    if best is None:
        lines.append("the backend did not run at any batch size: no figure")
    else:
        verdict = "" if best["meets_target"] is None else ("; meets" if best["meets_target"] else "; below")
        ratio = "-" if best["ratio"] is None else f"{best['ratio'] * 100:.1f} %"
        lines.append(
            f"backend's best batch size: {best['batch']} ({_number(best['backend_images_per_s'])} images/s); the "
            f"pipeline there: {_number(best['pipeline_images_per_s'])} images/s = {ratio} of the backend"
            f"{verdict} the issue's target of {best['target'] * 100:g} %"
        )
    lines.append(_host_work_line(document))
    lines += [line for line in host_lines(document["host"]) if line.startswith(("CPU:", "load average"))]
    return "\n".join(lines)
