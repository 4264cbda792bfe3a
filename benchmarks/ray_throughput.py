"""Throughput of msau-run's job on 512x512 photos: local mode against --ray with 1 and 2 workers.

    python -m msau.benchmarks.ray_throughput [--images 64] [--markdown benchmarks/results/DATE-ray.md]

The photos are the examples' colour photos, centre squares at --size, flipped to make --images of them, saved
as gray PNGs with 0.5 % hints (JSON) sampled from the colours, as msau-run gets them. Each setting colorizes
all of them into a fresh folder, noting when each photo ends: the time from the end of the first quarter to
the last photo, over the photos in between, is the steady cost per photo; the wall time it does not account
for is the fixed cost of the run (opening the model; on Ray also starting the actors). The Ray overhead per
photo is the steady cost of one Ray worker minus that of local mode on the same CPU budget (--threads 1 and
OMP_NUM_THREADS=1, which Ray sets in each actor).
Ray's own start (ray.init of a local instance) is timed once, apart. Local mode runs in a process of its own,
as msau-run does; Ray's actors are processes of their own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from msau.runtime.batch import Job

DEFAULT_IMAGES = 64
DEFAULT_SIZE = 512
HINT_RATIO = 0.005


@dataclass(frozen=True)
class Setting:
    """One way to run the job: local mode with `threads` backend threads, or Ray with `workers` actors."""

    name: str
    workers: int | None  # None: local mode
    threads: int | None  # None: the backend's choice (every core)


SETTINGS = (
    Setting("local (msau-run defaults)", None, None),
    Setting("local --threads 1, OMP_NUM_THREADS=1", None, 1),
    Setting("--ray --workers 1", 1, 1),
    Setting("--ray --workers 2", 2, 1),
)


def make_photos(folder: Path, count: int, size: int, images: Path | None = None) -> tuple[Path, Path]:
    """(gray folder, hints folder) with count gray size x size PNGs and their <stem>.json hints."""
    import cv2

    from msau.benchmarks.cli import default_images
    from msau.benchmarks.quality import load_photos
    from msau.runtime.atomic import write_text_atomic
    from msau.runtime.hints import sample_hints
    from msau.runtime.image_io import write_image

    photos, _ = load_photos(images or default_images(), size)
    gray, hints = folder / "gray", folder / "hints"
    for i in range(count):
        rgb = photos[i % len(photos)].ground_truth
        rgb = np.ascontiguousarray(rgb[:, ::-1] if (i // len(photos)) % 2 else rgb)  # flipped every other round
        stem = f"photo{i:04d}"
        write_image(gray / f"{stem}.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        write_text_atomic(hints / f"{stem}.json", json.dumps(sample_hints(rgb, HINT_RATIO, seed=i).to_json()))
    return gray, hints


def plan(gray: Path, hints: Path, out: Path, count: int) -> list[Job]:
    """The first count photos' jobs, planned as msau-run plans them."""
    from msau.runtime.inputs import discover, plan_jobs

    inputs, _ = discover([str(gray)])
    jobs, known = plan_jobs(inputs[:count], out, hints=hints)
    assert not known, known
    return jobs


def run_setting(setting: Setting, jobs: list[Job], backend: str, batch_size: int) -> list[float]:
    """Seconds from the start of the job (model opening and actor start included) at which each photo ended."""
    from msau.runtime.batch import run_jobs
    from msau.runtime.colorizer import Colorizer
    from msau.runtime.ray_job import RaySettings, run_on_ray

    options = {"backend": backend, **({"threads": setting.threads} if setting.threads else {})}
    ends: list[float] = []
    start = time.perf_counter()

    def on_result(_result) -> None:
        ends.append(time.perf_counter() - start)

    if setting.workers is None:
        with Colorizer(**options) as colorizer:
            summary = run_jobs(colorizer, jobs, batch_size, on_result=on_result)
    else:
        summary = run_on_ray(jobs, options, RaySettings(workers=setting.workers, batch_size=batch_size), on_result)
    if summary.done != len(jobs):
        raise RuntimeError(f"{summary.failed} of {len(jobs)} photos failed: {summary.failures[0].message}")
    return sorted(ends)


def _in_own_process(setting: Setting, jobs: list[Job], backend: str, batch_size: int) -> list[float]:
    """run_setting, local mode in a fresh process of its own as msau-run is (not beside this one's Ray driver
    threads), Ray from here (its actors are processes of their own anyway).

    A local setting with `threads` gets OMP_NUM_THREADS=threads, as Ray gives each actor its num_cpus: OpenMP
    pools (OpenCV, BLAS) sized for every core spin against each other on a busy machine.
    """
    if setting.workers is not None:
        return run_setting(setting, jobs, backend, batch_size)
    saved = os.environ.get("OMP_NUM_THREADS")
    if setting.threads:
        os.environ["OMP_NUM_THREADS"] = str(setting.threads)  # the child reads it as it starts
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(run_setting, setting, jobs, backend, batch_size).result()
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def measure(
    settings: Sequence[Setting], gray: Path, hints: Path, out: Path, count: int, backend: str, batch_size: int,
    rounds: int, say: Callable[[str], None],
) -> list[dict]:
    """Per setting, its fastest of `rounds` runs (the settings take turns, so that a burst of load elsewhere
    does not fall on one of them): wall seconds, images/s, steady ms/photo (from the end of the first quarter
    to the last photo) and fixed seconds (what the steady rate leaves unexplained: models, actors)."""
    best: dict[str, list[float]] = {}
    for round_ in range(rounds):
        for setting in settings:
            folder = out / f"{setting.name.replace(' ', '_')}-{round_}"
            ends = _in_own_process(setting, plan(gray, hints, folder, count), backend, batch_size)
            say(f"round {round_ + 1}: {setting.name}: {count} photos in {ends[-1]:.2f} s")
            if setting.name not in best or ends[-1] < best[setting.name][-1]:
                best[setting.name] = ends
    rows = []
    for setting in settings:
        ends = best[setting.name]
        quarter = count // 4
        steady = (ends[-1] - ends[quarter - 1]) / (count - quarter)
        rows.append({
            "setting": setting.name,
            "seconds": ends[-1],
            "images_per_second": count / ends[-1],
            "steady_ms": steady * 1000,
            "steady_images_per_second": 1 / steady if steady > 0 else float("nan"),
            "fixed_seconds": ends[-1] - steady * count,
        })
    return rows


def markdown(rows: list[dict], host: dict, count: int, size: int, backend: str, ray_start: float, command: str) -> str:
    from msau.benchmarks.hostinfo import load_average
    from msau.benchmarks.report import fmt, host_lines, markdown_table

    by_name = {row["setting"]: row for row in rows}
    overhead = by_name["--ray --workers 1"]["steady_ms"] - by_name[SETTINGS[1].name]["steady_ms"]
    headers = ["setting", f"s for {count} (best run)", "images/s", "steady ms/photo", "steady images/s", "fixed s"]
    table = [
        [r["setting"], fmt(r["seconds"]), fmt(r["images_per_second"]), fmt(r["steady_ms"], 1),
         fmt(r["steady_images_per_second"]), fmt(r["fixed_seconds"])]
        for r in rows
    ]
    host_text = [*host_lines(host), f"ray {metadata.version('ray')}"]
    return "\n".join([
        f"# msau-run on Ray: {count} photos of {size}x{size}, backend {backend}", "",
        "Produced with:", "", "```sh", command, "```", "",
        "## Host", "", *(f"- {line}" for line in host_text), "",
        "## Throughput", "", markdown_table(headers, table), "",
        f"- Ray's own start (a local instance, ray.init): {ray_start:.1f} s, once per msau-run --ray.",
        f"- Ray overhead per photo (steady, 1 worker against local mode on one thread): {overhead:+.1f} ms.",
        f"- Load average at the end: {' / '.join(map(str, load_average() or []))}. Other work on the machine slows",
        "  every setting; the settings took turns, so each met the same load, and the fastest round is kept.",
        "",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msau.benchmarks.ray_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=DEFAULT_IMAGES, help=f"photos per full run (default {DEFAULT_IMAGES})")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"photo side in pixels (default {DEFAULT_SIZE})")
    parser.add_argument("--backend", default="auto", help="Colorizer backend (default auto)")
    parser.add_argument("--batch-size", type=int, default=8, help="photos per network call (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per setting, the fastest kept (default 2)")
    parser.add_argument("--photos", type=Path, help="folder of colour photos (default: the examples)")
    parser.add_argument("--markdown", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.images < 8:
        parser.error("--images must be at least 8")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    import ray

    from msau.benchmarks.hostinfo import host_facts
    from msau.runtime.ray_job import connect

    host = host_facts()
    with tempfile.TemporaryDirectory(prefix="msau-ray-bench-") as tmp:
        gray, hints = make_photos(Path(tmp), args.images, args.size, args.photos)
        start = time.perf_counter()
        connect(num_cpus=os.cpu_count())
        ray_start = time.perf_counter() - start
        try:
            rows = measure(SETTINGS, gray, hints, Path(tmp) / "out", args.images, args.backend, args.batch_size, args.rounds, say)
        finally:
            ray.shutdown()
    command = "python -m msau.benchmarks.ray_throughput " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(rows, host, args.images, args.size, args.backend, ray_start, command.strip())
    print(text)
    if args.markdown is not None:
        from msau.runtime.atomic import write_text_atomic

        write_text_atomic(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
