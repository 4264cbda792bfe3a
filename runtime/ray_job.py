"""msau-run --ray: the batch job on a Ray cluster with Ray Data (map_batches over an actor pool).

The driver plans the jobs exactly as local mode does (msau.runtime.inputs.plan_jobs: the file list, the hint
pairing, the output names, --skip-existing); each actor opens one Colorizer once and runs local mode's own
pipeline (msau.runtime.batch.run_jobs) on the jobs Ray Data hands it, so the reading, the per-photo failure
rows and the atomic writes are the same code in both modes. A bad file is a result row, never a failed task.
Ray restarts an actor that dies and retries its unfinished task on the pool, so every job still ends once.

Paths must mean the same on every node: inputs, hints and the output folder on a shared filesystem.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from msau.runtime.atomic import remove_leftovers
from msau.runtime.backends.base import MissingDependencyError
from msau.runtime.batch import FAILED, Job, Result, Summary, run_jobs
from msau.runtime.image_io import DEFAULT_JPEG_QUALITY

if TYPE_CHECKING:
    from msau.runtime.colorizer import Colorizer

RAY_EXTRA = "pip install 'msau[ray]'"
# Jobs per Ray task: a few network batches, so that each actor overlaps reading, inference and writing as
# local mode does, while a task lost with its actor is little work to redo and progress moves often.
BATCHES_PER_TASK = 4
TASKS_PER_WORKER = 4  # at least this many tasks per actor when there are enough jobs, to balance the pool
MAX_TASKS = 20_000  # beyond this the per-task overhead of Ray outweighs finer progress
CONNECT_TIMEOUT_S = 10.0
# Tries of a task whose actor died before its photos are given up as failed: a photo that kills every worker
# that takes it (out of memory, say) must not keep the job going forever.
TASK_TRIES = 3
_PATH_COLUMNS = ("source", "output", "hints", "compare", "reference")


class RayJobError(RuntimeError):
    """Ray could not run the job at all (no cluster at the address, workers that cannot open the model)."""


@dataclass(frozen=True)
class RaySettings:
    """Where and how wide the job runs.

    address None starts a local Ray instance (one worker per core), "auto", "HOST:6379" or "ray://HOST:10001"
    joins a cluster; workers is the number of actors (None: one per CPU of the cluster, or per gpus_per_worker GPUs);
    each actor reserves ``threads`` CPUs and gpus_per_worker GPUs.
    """

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    batch_size: int = 8
    jpeg_quality: int = DEFAULT_JPEG_QUALITY


def actor_threads(colorizer_options: dict[str, Any]) -> int:
    """CPUs each actor reserves and its backend's threads: the Colorizer's threads option, else 1."""
    return max(1, int(colorizer_options.get("threads") or 1))


def open_colorizer(colorizer_options: dict[str, Any]) -> Colorizer:
    """The Colorizer an actor opens: Colorizer(**colorizer_options) on actor_threads threads.

    A parameter of run_on_ray, so that a caller can wrap it. backend "auto" is resolved on the actor's own
    node: TensorRT or ONNX Runtime CUDA on a GPU node, the CPU path elsewhere.
    """
    from msau.runtime.colorizer import Colorizer

    return Colorizer(**{**colorizer_options, "threads": actor_threads(colorizer_options)})


def require_ray() -> Any:
    """The ray module with Ray Data, or MissingDependencyError naming the extra."""
    try:
        import ray
        import ray.data  # noqa: F401  (ray without the [data] extra lacks pyarrow and pandas)
    except ImportError as error:
        raise MissingDependencyError(f"--ray needs Ray Data (ray[data]): {RAY_EXTRA}") from error
    return ray


def _job_row(index: int, job: Job) -> dict[str, Any]:
    """A job as a Ray Data row: its index in the job list and its paths ("" for none)."""
    return {"index": index, **{name: str(getattr(job, name) or "") for name in _PATH_COLUMNS}}


def _row_job(row: dict[str, Any]) -> Job:
    return Job(**{name: Path(row[name]) if row[name] else None for name in _PATH_COLUMNS})


class ColorizeBatches:
    """Ray Data UDF run by each actor of the pool: one Colorizer, opened once, for every batch it is given."""

    def __init__(
        self,
        colorizer_options: dict[str, Any],
        batch_size: int,
        jpeg_quality: int,
        cwd: str | None,
        opener: Callable[[dict[str, Any]], Colorizer] = open_colorizer,
    ) -> None:
        if cwd is not None:  # relative paths mean what they mean on the driver (a shared filesystem)
            os.chdir(cwd)
        self.colorizer = opener(colorizer_options)
        self.batch_size = batch_size
        self.jpeg_quality = jpeg_quality

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        jobs = [_row_job(row) for row in rows]
        index = {job: int(row["index"]) for job, row in zip(jobs, rows)}
        results: list[Result] = []
        # One I/O thread each side: the actor reserves `threads` CPUs for the backend, no more.
        run_jobs(self.colorizer, jobs, self.batch_size, 1, self.jpeg_quality, results.append)
        return {
            "index": np.array([index[result.job] for result in results], np.int64),
            "status": np.array([result.status for result in results], dtype=object),
            "message": np.array([result.message for result in results], dtype=object),
            "gray_formula": np.array([result.gray_formula for result in results], dtype=object),
        }


def rows_per_task(jobs: int, batch_size: int, workers: int) -> int:
    """How many jobs one Ray task gets (see BATCHES_PER_TASK, TASKS_PER_WORKER, MAX_TASKS)."""
    balanced = math.ceil(jobs / (TASKS_PER_WORKER * max(1, workers)))
    return max(1, min(BATCHES_PER_TASK * batch_size, balanced), math.ceil(jobs / MAX_TASKS))


def _configure_ray_data() -> None:
    """A task that failed TASK_TRIES times costs its photos, not the job (they become failed rows); Ray Data's
    own progress bars and logs would interleave with msau-run's bar and report, its errors too (a job that
    cannot run raises RayJobError with the cause in one line instead)."""
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.CRITICAL)
    context = DataContext.get_current()
    context.max_errored_blocks = -1
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """RayJobError unless something answers at HOST:PORT or ray://HOST:PORT ("auto" is Ray's to find).

    ray.init retries an address where nothing listens for minutes, deaf to Ctrl-C; this fails in seconds.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise RayJobError(f"cannot join Ray at {address}: nothing answers at {host}:{port} ({error})") from error


@contextlib.contextmanager
def _keeping_signal_handlers() -> Iterator[None]:
    """ray.init gives the driver a SIGTERM handler of its own (sys.exit(15), after a C++ stack dump); the
    caller's handlers (msau-run's: unwind and clean up as Ctrl-C does, exit 143) come back after it."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    numbers = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
    saved = {number: signal.getsignal(number) for number in numbers}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if handler is not None:
                signal.signal(number, handler)


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start (address None: locally, num_cpus None: every core) or join Ray, quietly, unless this process
    already did; True when this call did (the caller then shuts it down with ray.shutdown())."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    # Workers' output and Ray's C++ logs stay in Ray's log files (/tmp/ray/session_latest/logs): failures
    # come back as result rows, and Ray Data logs a C++ error line per actor it starts with restarts enabled.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    options = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is not None:
        check_reachable(address)
    try:
        with _keeping_signal_handlers():
            if address is None:  # "local": a new instance, even where `ray start` left one running on this node
                ray.init("local", num_cpus=num_cpus, include_dashboard=False, **options)
            else:  # a cluster's own settings (its dashboard, its CPUs) are its own
                ray.init(address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"at {address}" if address else "locally"
        raise RayJobError(f"cannot start or join Ray {where}: {_root_cause(error)}") from error
    return True


def default_workers(ray: Any, gpus_per_worker: float, threads: int) -> int:
    """One actor per gpus_per_worker GPUs of the cluster if given, else one per `threads` CPUs."""
    resources = ray.cluster_resources()
    if gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) // gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // max(1, threads)))


def _root_cause(error: BaseException) -> str:
    """The last line of the first Ray error in the chain with a text: Ray ends it with the remote error."""
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    texts = [str(e).strip() for e in seen if str(e).strip()]
    return texts[-1].splitlines()[-1] if texts else type(seen[0]).__name__


def run_on_ray(
    jobs: Sequence[Job],
    colorizer_options: dict[str, Any],
    settings: RaySettings,
    on_result: Callable[[Result], None] | None = None,
    opener: Callable[[dict[str, Any]], Colorizer] = open_colorizer,
    on_start: Callable[[str], None] | None = None,
) -> Summary:
    """Colorize every job on Ray, as run_jobs does locally; on_result hears of each job as it ends.

    Each actor opens opener(colorizer_options) once (see open_colorizer: Colorizer keyword arguments).

    Starts a local Ray instance or joins settings.address unless this process has already initialised Ray
    (then it uses that one and leaves it running). on_start hears one line saying where the job runs.
    Raises MissingDependencyError without ray[data], RayJobError when the job cannot run at all (the actors
    cannot open the model, no cluster at the address). Whatever happens, no temporary file of the jobs'
    outputs is left behind, not even one of an actor that was killed mid-write.
    """
    summary = Summary()
    if not jobs:
        return summary
    ray = require_ray()
    started = connect(settings.address)
    try:
        _configure_ray_data()
        workers = settings.workers or default_workers(ray, settings.gpus_per_worker, actor_threads(colorizer_options))
        workers = min(workers, len(jobs))
        if on_start is not None:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            on_start(f"{workers} Ray worker(s) on a cluster of {cpus} CPU(s)")
        start = time.perf_counter()
        ended = set()
        for result in _results(ray, jobs, colorizer_options, settings, workers, opener):
            ended.add(result.job)
            summary.add(result)
            if on_result is not None:
                on_result(result)
        for job in jobs:
            if job not in ended:
                message = f"{job.source}: not colorized: the Ray worker holding it died {TASK_TRIES} times (out of memory?)"
                summary.add(Result(job, FAILED, message))
                if on_result is not None:
                    on_result(summary.failures[-1])
        summary.seconds = time.perf_counter() - start
    finally:
        if started:
            ray.shutdown()  # also on Ctrl-C: stops the actors before the leftovers are swept
        remove_leftovers(path for job in jobs for path in (job.output, job.compare) if path is not None)
    return summary


def _results(ray, jobs, colorizer_options, settings, workers, opener):
    """Each job's Result as Ray Data yields them (in the order tasks finish)."""
    per_task = rows_per_task(len(jobs), settings.batch_size, workers)
    model = colorizer_options.get("model")
    if model is not None:  # the driver's meaning of a relative model path
        colorizer_options = {**colorizer_options, "model": Path(model).absolute()}
    relative = any(not Path(getattr(job, name)).is_absolute() for job in jobs for name in _PATH_COLUMNS if getattr(job, name))
    actor_arguments = {
        "colorizer_options": colorizer_options,
        "batch_size": settings.batch_size,
        "jpeg_quality": settings.jpeg_quality,
        "cwd": os.getcwd() if relative else None,
        "opener": opener,
    }
    rows = ray.data.from_items(
        [_job_row(i, job) for i, job in enumerate(jobs)], override_num_blocks=math.ceil(len(jobs) / per_task)
    )
    with warnings.catch_warnings():  # max_task_retries has no named parameter yet (the extra pins ray < 2.64)
        warnings.simplefilter("ignore", DeprecationWarning)
        results = rows.map_batches(
            ColorizeBatches,
            batch_size=per_task,
            batch_format="numpy",
            # One task at a time per actor: a task queued behind a photo that kills its worker would lose a try too,
            # and a good photo could run out of tries that way.
            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
            num_cpus=actor_threads(colorizer_options),
            num_gpus=settings.gpus_per_worker or None,
            max_task_retries=TASK_TRIES - 1,  # actors are restarted without limit (Ray Data's default)
            fn_constructor_kwargs=actor_arguments,
        )
    try:
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            rows = zip(batch["index"], batch["status"], batch["message"], batch["gray_formula"])
            for index, status, message, gray_formula in rows:
                yield Result(jobs[int(index)], str(status), str(message), str(gray_formula))
    except ray.exceptions.RayError as error:
        raise RayJobError(f"the Ray job failed: {_root_cause(error)}") from error
