"""Latency harness: every configuration x input size x batch size, warm-up, then timed runs, inside one
overall time limit shared fairly between the configurations.

One configuration at a time: it is opened (loading and compiling, timed as open_s), measured at every size
and batch size in ascending order, and closed before the next one opens, because on a small CPU the idle
thread pools of one runtime (spinning OpenMP/TBB workers) slow another down. Closing is not enough (a library's
pool outlives its sessions): msau-bench runs each configuration in a process of its own
(run_latency_isolated, msau.benchmarks.latency_worker), which also times the runtime's work around the
backend from real Colorizer calls; run_latency is the in-process harness each process runs. Each configuration gets an
equal share of the time left when it starts, and each of its measurements an equal share of what is left
of that; a measurement that would not fit (judged from the same configuration's last per-image time) is
reported as skipped with the time it needs, so that it is the largest batches that are left out, never a
whole backend; unused time passes on to the configurations after it.

Per measurement: warm-up runs (at least one, until warmup_s) that are not counted, then timed runs until
budget_s has passed and at least min_runs were made, or until the measurement's share is spent (at least
one run). A time is the wall-clock time of backend.infer on a host array: it includes host-to-device and
device-to-host copies on GPU backends. On CUDA, the torch backend is also timed with CUDA events: device
compute alone, and the two copies separately (as trtexec reports them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from msau.benchmarks.configs import (
    FAILED,
    OK,
    SKIPPED,
    Config,
    check_output,
    classify_open_error,
    open_config,
    run_error,
)
from msau.benchmarks.schema import ConfigResult
from msau.benchmarks.stats import summarize
from msau.runtime.contract import CHANNEL_L, CHANNEL_MASK, DEFAULT_SIZE, INPUT_CHANNELS, check_size

DEFAULT_BATCH_SIZES = (1, 8, 32)
# Chosen so that `msau-bench latency` with defaults ends in well under a minute on a 2-core CPU, imports,
# compilation and the roofline peaks included; raise --time-limit for more runs at the large batches.
DEFAULT_TIME_LIMIT_S = 34.0
DEFAULT_BUDGET_S = 2.0
DEFAULT_WARMUP_S = 0.25
DEFAULT_MIN_RUNS = 3
DEFAULT_MAX_RUNS = 1000


@dataclass(frozen=True)
class LatencySettings:
    """How long and what to measure; the defaults are the documented `msau-bench latency` defaults."""

    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    sizes: tuple[int, ...] = (DEFAULT_SIZE,)
    time_limit_s: float = DEFAULT_TIME_LIMIT_S  # whole sweep: opening, warm-up and timed runs
    budget_s: float = DEFAULT_BUDGET_S  # timed seconds per measurement, at most (fair share permitting)
    warmup_s: float = DEFAULT_WARMUP_S  # warm-up seconds per measurement (at least one run)
    min_runs: int = DEFAULT_MIN_RUNS
    max_runs: int = DEFAULT_MAX_RUNS
    seed: int = 0
    device_timing: bool = True  # CUDA-event timings for the torch backend on a GPU

    def __post_init__(self) -> None:
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch sizes must be positive integers, got {self.batch_sizes}")
        for size in self.sizes:
            check_size(size, size)
        if self.time_limit_s <= 0 or self.budget_s <= 0 or self.warmup_s < 0:
            raise ValueError("time limit and budget must be positive, warm-up not negative")
        if self.min_runs < 1 or self.max_runs < self.min_runs:
            raise ValueError(f"need 1 <= min_runs <= max_runs, got {self.min_runs} and {self.max_runs}")


def make_input(batch: int, size: int, seed: int = 0) -> np.ndarray:
    """A contract input (batch, 4, size, size): random lightness and 1% random hints, like a real request."""
    rng = np.random.default_rng(seed)
    x = np.zeros((batch, INPUT_CHANNELS, size, size), np.float32)
    x[:, CHANNEL_L] = rng.uniform(0.0, 1.0, (batch, size, size))
    mask = rng.uniform(size=(batch, size, size)) < 0.01
    x[:, CHANNEL_MASK] = mask
    x[:, CHANNEL_L + 1 : CHANNEL_MASK] = rng.uniform(-0.5, 0.5, (batch, 2, size, size)) * mask[:, None]
    return x


def timing_summary(samples_s: Sequence[float], batch: int) -> dict:
    """Per-batch and per-image latency statistics (ms) and throughput (images/s) of timed runs (s)."""
    per_batch = summarize(samples_s, 1000.0)
    return {
        "runs": len(samples_s),
        "latency_ms": per_batch,
        "per_image_ms": summarize(samples_s, 1000.0 / batch),
        "images_per_s": batch / (per_batch["mean"] / 1000.0),
    }


class _Sweep:
    """State of one latency sweep: results and the clock against the time limit."""

    def __init__(self, configs: list[Config], settings: LatencySettings, opener, clock, progress) -> None:
        self.settings = settings
        self.progress = progress
        self.opener = opener
        self.clock = clock
        self.deadline = clock() + settings.time_limit_s
        self.configs = configs
        self.results = [self._result(c) for c in configs]
        self.stages = [(size, batch) for size in settings.sizes for batch in sorted(set(settings.batch_sizes))]

    @staticmethod
    def _result(config: Config) -> dict:
        return {**config.describe(), "status": config.status, "reason": config.reason, "open_s": None, "batches": []}

    def run(self) -> list[ConfigResult]:
        todo = [(c, r) for c, r in zip(self.configs, self.results) if r["status"] == OK]
        for index, (config, result) in enumerate(todo):
            config_end = self.clock() + max(self.deadline - self.clock(), 0.0) / (len(todo) - index)
            self._run_config(config, result, config_end)
            if result["status"] == OK and not any(b["status"] == OK for b in result["batches"]):
                failed = [b for b in result["batches"] if b["status"] == FAILED]
                first = (failed or result["batches"] or [{"reason": "nothing measured"}])[0]
                result["status"] = FAILED if failed else SKIPPED
                result["reason"] = first["reason"]
        return [ConfigResult.from_json(r) for r in self.results]  # the sweep's working dicts, complete

    def _run_config(self, config: Config, result: dict, config_end: float) -> None:
        backend = None
        per_image: tuple[int, float] | None = None  # (size, seconds per image) of the last measurement
        try:
            for index, (size, batch) in enumerate(self.stages):
                now = self.clock()
                left = config_end - now
                estimate = None if per_image is None else per_image[1] * batch * (size / per_image[0]) ** 2
                if left <= 0 or (estimate is not None and 2 * estimate > left):
                    entry = self._skipped(size, batch, estimate, left)
                else:
                    if backend is None:
                        backend = self._open(config, result)
                        if backend is None:
                            return
                    share_end = self.clock() + (config_end - self.clock()) / (len(self.stages) - index)
                    entry = self._measure(backend, size, batch, share_end)
                result["batches"].append(entry)
                if entry["status"] == OK:
                    per_image = (size, entry["latency_ms"]["p50"] / 1000.0 / batch)
                if self.progress is not None:
                    self.progress(describe_measurement(config, size, batch, entry, result))
        finally:
            if backend is not None:
                try:
                    backend.close()
                except Exception:  # closing is best effort; the results are already taken
                    pass

    def _skipped(self, size: int, batch: int, estimate: float | None, left: float) -> dict:
        need = f"about {2 * estimate:.1f} s (one warm-up and one timed run)" if estimate else "more time"
        return {
            "size": size,
            "batch": batch,
            "status": SKIPPED,
            "reason": (
                f"time limit: needs {need}, {max(left, 0):.1f} s of this configuration's share of the "
                f"{self.settings.time_limit_s:g} s limit left; raise --time-limit"
            ),
        }

    def _open(self, config: Config, result: dict):
        start = self.clock()
        try:
            backend = self.opener(config)
        except Exception as error:  # any backend error becomes this configuration's status
            result["status"], result["reason"] = classify_open_error(error)
            if self.progress is not None:
                self.progress(f"{config.key}: {result['status']}: {result['reason']}")
            return None
        result["open_s"] = self.clock() - start
        return backend

    def _measure(self, backend, size: int, batch: int, share_end: float) -> dict:
        settings, clock = self.settings, self.clock
        entry = {"size": size, "batch": batch, "status": OK, "reason": ""}
        x = make_input(batch, size, settings.seed)
        try:
            first = clock()
            check_output(backend.infer(x), batch, size, size)
            entry["first_run_ms"] = (clock() - first) * 1000.0
            warmups = 1
            while clock() - first < settings.warmup_s and clock() < share_end:
                backend.infer(x)
                warmups += 1
            samples = self._timed_runs(backend, x, share_end)
        except Exception as error:  # a backend that breaks while running fails this measurement only
            entry.update(status=FAILED, reason=run_error(error))
            return entry
        entry["warmup_runs"] = warmups
        entry.update(timing_summary(samples, batch))
        if len(samples) < settings.min_runs:
            entry["note"] = (
                f"{len(samples)} timed run(s), fewer than --min-runs {settings.min_runs}: one batch takes "
                f"{samples[-1]:.2f} s and the time limit is shared; raise --time-limit for more"
            )
        if settings.device_timing and is_torch_cuda(backend):
            try:
                entry["cuda"] = cuda_event_timings(backend, x, runs=max(len(samples), settings.min_runs))
            except Exception as error:  # device timing is extra information; the wall-clock figures stand
                entry["cuda"] = {"error": run_error(error)}
        return entry

    def _timed_runs(self, backend, x: np.ndarray, share_end: float) -> list[float]:
        settings, clock = self.settings, self.clock
        samples: list[float] = []
        timed_start = clock()
        target = min(settings.budget_s, max(share_end - timed_start, 0.0))
        while True:
            t0 = clock()
            backend.infer(x)
            t1 = clock()
            samples.append(t1 - t0)
            if len(samples) >= settings.max_runs:
                break
            if len(samples) >= settings.min_runs and t1 - timed_start >= target:
                break
            if t1 + (t1 - t0) > share_end:  # the next run would overrun this measurement's share
                break
        return samples


def run_latency(
    configs: list[Config],
    settings: LatencySettings = LatencySettings(),
    opener: Callable[[Config], object] = open_config,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
) -> list[ConfigResult]:
    """Measure every configuration that is not already skipped; one result per configuration.

    progress, if given, receives one line per finished measurement.
    A result: backend, precision, device, artifact, artifact_mb, status (ok / skipped / failed), reason,
    open_s, and batches: one entry per (size, batch) with status, runs, warmup_runs, first_run_ms,
    latency_ms and per_image_ms (count, mean, p50, p90, p99, min, max, std) and images_per_s.
    """
    return _Sweep(configs, settings, opener, clock, progress).run()


# Seconds a configuration's process may take beyond its share of the time limit: imports, opening the backend
# (OpenVINO compiles per shape), and timing the runtime's work; past it the process is stopped.
WORKER_OVERHEAD_S = 180.0
_STDERR_LINES_KEPT = 5


def _worker_failure(config: Config, reason: str) -> ConfigResult:
    return ConfigResult.from_json({**_Sweep._result(config), "status": FAILED, "reason": reason})


def _run_worker(config: Config, settings: LatencySettings, runtime_work: bool, progress, python: str) -> ConfigResult:
    """The result of one configuration measured in a fresh Python process (its progress lines relayed)."""
    from msau.benchmarks.latency_worker import request_for

    with tempfile.TemporaryDirectory(prefix="msau-bench-") as folder:
        request, result = Path(folder) / "request.json", Path(folder) / "result.json"
        request.write_text(json.dumps(request_for(config, settings, runtime_work)), encoding="utf-8")
        command = [python, "-m", "msau.benchmarks.latency_worker", str(request), str(result)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        timer = threading.Timer(settings.time_limit_s + WORKER_OVERHEAD_S, process.kill)
        timer.start()
        last: list[str] = []
        try:
            for line in process.stderr:
                line = line.rstrip()
                last = (last + [line])[-_STDERR_LINES_KEPT:]
                if progress is not None and line:
                    progress(line)
            code = process.wait()
        finally:
            timer.cancel()
        if code == 0 and result.is_file():
            return ConfigResult.from_json(json.loads(result.read_text(encoding="utf-8")))
        why = " | ".join(line for line in last if line) or "no output"
        return _worker_failure(config, f"its process ended with code {code}: {why}")


def run_latency_isolated(
    configs: list[Config],
    settings: LatencySettings = LatencySettings(),
    progress: Callable[[str], None] | None = None,
    runtime_work: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    python: str = sys.executable,
) -> list[ConfigResult]:
    """run_latency with each configuration in a process of its own, given an equal share of the time left when
    it starts; with runtime_work, each result also holds runtime_work (msau.benchmarks.host_stages)."""
    deadline = clock() + settings.time_limit_s
    todo = [c for c in configs if c.status == OK]
    results = []
    for config in configs:
        if config.status != OK:
            results.append(ConfigResult.from_json(_Sweep._result(config)))
            continue
        share = max(deadline - clock(), 0.0) / (len(todo) - todo.index(config))
        own = replace(settings, time_limit_s=max(share, 0.01))
        results.append(_run_worker(config, own, runtime_work, progress, python))
    return results


def describe_measurement(config: Config, size: int, batch: int, entry: dict, result: dict) -> str:
    """One progress line for a finished measurement."""
    where = f"{config.key} {size}x{size} batch {batch}"
    if entry["status"] != OK:
        return f"{where}: {entry['status']}: {entry['reason']}"
    return (
        f"{where}: p50 {entry['latency_ms']['p50']:.2f} ms per batch, {entry['images_per_s']:.1f} images/s "
        f"({entry['runs']} runs)"
    )


def is_torch_cuda(backend) -> bool:
    """True for the torch backend on a CUDA device (the one whose device time is measured with CUDA events)."""
    return getattr(backend, "name", "") == "torch" and str(getattr(backend, "device", "")).startswith("cuda")


def cuda_event_timings(backend, x: np.ndarray, runs: int) -> dict:
    """Device compute time of the torch backend's model with CUDA events, and the host-to-device and
    device-to-host copies timed apart (pinned host memory, as an optimised server would use)."""
    import torch

    device = torch.device(backend.device)
    dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[backend.precision]
    host_in = torch.from_numpy(x).pin_memory()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(3)]
    h2d, compute, d2h = [], [], []
    with torch.inference_mode():
        for _ in range(runs + 1):  # the first round warms the copy paths and is dropped
            (a0, a1), (b0, b1), (c0, c1) = events
            a0.record()
            device_in = host_in.to(device, non_blocking=True)
            a1.record()
            b0.record()
            if dtype is None:
                out = backend.model(device_in)
            else:
                with torch.autocast(device_type="cuda", dtype=dtype):
                    out = backend.model(device_in)
            b1.record()
            c0.record()
            out.float().cpu()
            c1.record()
            torch.cuda.synchronize(device)
            h2d.append(a0.elapsed_time(a1))
            compute.append(b0.elapsed_time(b1))
            d2h.append(c0.elapsed_time(c1))
    return {
        "h2d_ms": summarize(h2d[1:]),
        "compute_ms": summarize(compute[1:]),
        "d2h_ms": summarize(d2h[1:]),
        "method": "CUDA events around the copy to the device, the model call and the copy back",
    }


def settings_dict(settings: LatencySettings) -> dict:
    """The settings as JSON fields."""
    return asdict(settings)
