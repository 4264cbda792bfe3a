"""The batch pipeline: read + encode in threads, infer in batches, decode + write in threads.

Reading a JPEG, converting to Lab and writing a PNG cost about as much as the network on a fast backend;
OpenCV, numpy and the backends release the GIL, so a few threads on each side keep the backend busy.
A job that fails (unreadable image, bad hints, a write error) is reported and the others go on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from msau.runtime.colorizer import Colorizer, Prepared, as_hints
from msau.runtime.gray_formula import LIGHTNESS
from msau.runtime.hints import Hints
from msau.runtime.image_io import DEFAULT_JPEG_QUALITY, read_image, write_image

DONE, FAILED, SKIPPED = "done", "failed", "skipped"


# Threads reading and writing images around the backend calls: msau-run's default. On 2 cores more threads only
# compete with the backend's own.
DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class Job:
    """One photo to colorize: where it comes from, its hint file (or None), where the result(s) go."""

    source: Path
    output: Path
    hints: Path | None = None
    compare: Path | None = None  # side-by-side picture, if asked for
    reference: Path | None = None  # a colour original to show last in the side-by-side picture


@dataclass(frozen=True)
class Result:
    """What became of a job; message says why for failed and skipped jobs; gray_formula, for a done one, what its
    gray was read as (msau.runtime.gray_formula)."""

    job: Job
    status: str
    message: str = ""
    gray_formula: str = LIGHTNESS


@dataclass
class Summary:
    """Counts and wall time of a run."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[Result] = field(default_factory=list)
    read_as_luma: dict[str, int] = field(default_factory=dict)  # done gray photos per luma formula

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def add(self, result: Result) -> None:
        if result.status == DONE:
            self.done += 1
            if result.gray_formula != LIGHTNESS:
                self.read_as_luma[result.gray_formula] = self.read_as_luma.get(result.gray_formula, 0) + 1
        elif result.status == SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(result)


@dataclass
class Loaded:
    """A job read and prepared, waiting for its backend call."""

    job: Job
    prepared: Prepared
    image: np.ndarray | None  # kept only for the side-by-side picture
    hints: Hints


def _failure_text(job: Job, error: BaseException) -> str:
    """One line naming the input and the problem (the error usually names its own file already)."""
    text = str(error) or type(error).__name__
    source = str(job.source)
    return text if text.startswith(source) else f"{source}: {text}"


def load_job(colorizer: Colorizer, job: Job) -> Loaded:
    """The pipeline's work before the backend for one job: read and decode the photo, parse its hints, prepare."""
    image = read_image(job.source, colorizer.max_pixels)
    # Parsed here rather than inside prepare(): the side-by-side picture draws the same hints.
    hints = as_hints(job.hints, image.shape[0], image.shape[1])
    return Loaded(job, colorizer.prepare(image, hints), image if job.compare is not None else None, hints)


def finish_job(colorizer: Colorizer, loaded: Loaded, ab: np.ndarray, jpeg_quality: int) -> Result:
    """The pipeline's work after the backend for one job: finish the colour photo from its ab (2, size, size),
    encode and write it (and the side-by-side picture if asked for)."""
    result = colorizer.finish(ab, loaded.prepared)  # (H, W, 3) uint8
    write_image(loaded.job.output, result, jpeg_quality)
    if loaded.job.compare is not None:
        from msau.runtime.side_by_side import side_by_side

        reference = read_image(loaded.job.reference) if loaded.job.reference is not None else None
        picture = side_by_side(loaded.image, loaded.prepared.lightness, loaded.hints, result, reference)
        write_image(loaded.job.compare, picture, jpeg_quality)
    return Result(loaded.job, DONE, gray_formula=loaded.prepared.gray_formula)


def run_jobs(
    colorizer: Colorizer,
    jobs: Iterable[Job],
    batch_size: int = 8,
    workers: int = DEFAULT_WORKERS,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    on_result: Callable[[Result], None] | None = None,
) -> Summary:
    """Colorize every job, batch_size photos per backend call; on_result hears of each job as it ends.

    on_result is called from worker threads, one call at a time.
    """
    batch_size, workers = max(1, int(batch_size)), max(1, int(workers))
    summary = Summary()
    lock = threading.Lock()

    def report(result: Result) -> None:
        with lock:
            summary.add(result)
            if on_result is not None:
                on_result(result)

    def finish(loaded: Loaded, ab: np.ndarray) -> None:
        try:
            report(finish_job(colorizer, loaded, ab, jpeg_quality))
        except Exception as error:  # a write or decode failure concerns this job only
            report(Result(loaded.job, FAILED, _failure_text(loaded.job, error)))

    start = time.perf_counter()
    jobs = list(jobs)
    # Enough reads in flight to fill the next batch while this one runs, no more (memory stays bounded).
    read_ahead = 2 * batch_size + workers
    with ThreadPoolExecutor(workers, thread_name_prefix="msau-read") as readers, ThreadPoolExecutor(
        workers, thread_name_prefix="msau-write"
    ) as writers:
        pending: deque[tuple[Job, Future]] = deque()
        writes: deque[Future] = deque()
        batch: list[Loaded] = []
        queue = iter(jobs)

        def top_up() -> None:
            while len(pending) < read_ahead:
                job = next(queue, None)
                if job is None:
                    return
                pending.append((job, readers.submit(load_job, colorizer, job)))

        def run_batch() -> None:
            try:
                ab = colorizer.infer([loaded.prepared for loaded in batch])  # (N, 2, size, size)
            except Exception as error:
                for loaded in batch:
                    report(Result(loaded.job, FAILED, _failure_text(loaded.job, RuntimeError(f"inference failed: {error}"))))
            else:
                for loaded, item in zip(batch, ab):
                    writes.append(writers.submit(finish, loaded, item))
            batch.clear()
            while len(writes) > read_ahead:  # do not let unwritten results pile up in memory
                writes.popleft().result()

        top_up()
        while pending:
            job, future = pending.popleft()
            try:
                batch.append(future.result())
            except Exception as error:
                report(Result(job, FAILED, _failure_text(job, error)))
            top_up()
            if len(batch) == batch_size:
                run_batch()
        if batch:
            run_batch()
        for write in writes:
            write.result()
    summary.seconds = time.perf_counter() - start
    return summary
