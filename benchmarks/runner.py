"""Whole benchmark runs as result documents (what --json writes and the tables and plots are drawn from):
the harness results plus the host, the model, the settings, the exact command and the roofline figures."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import msau
from msau.benchmarks.compare import compare_rows
from msau.benchmarks.configs import OK, Config, on_gpu, open_config
from msau.benchmarks.contact_sheet import contact_sheet, write_contact_sheet
from msau.benchmarks.hostinfo import host_facts, load_average
from msau.benchmarks.latency import LatencySettings, run_latency, run_latency_isolated, settings_dict
from msau.benchmarks.quality import Photo, quality_settings, run_quality
from msau.benchmarks.roofline import annotate, measure_peaks, model_gflops
from msau.benchmarks.schema import AutoRow, ConfigResult, Document

Progress = Callable[[str], None] | None


def _header(kind: str, command: str) -> dict:
    return {
        "kind": kind,
        "msau_version": msau.__version__,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
    }


def _host(load_at_start: list[float] | None) -> dict:
    host = host_facts()  # taken at the end, when torch (if used) is imported and can report CUDA
    host["load_average"] = load_at_start
    return host


def _model_info(model: Path, sizes: Sequence[int]) -> tuple[dict, dict[int, float | None]]:
    counted = {size: model_gflops(model, size, size) for size in sizes}
    gflops = {size: value for size, (value, _) in counted.items()}
    source = next(iter(counted.values()))[1]
    return {
        "path": str(model),
        "gflops_per_image": {str(s): g for s, g in gflops.items()},
        "gflops_source": source,
    }, gflops


def auto_summary(model: Path, results: Sequence[ConfigResult], size: int) -> AutoRow:
    """What auto chose on this machine for model, and the fastest configuration measured (per-image p50 at
    batch 1 and size); ratio is auto's time over the fastest (1.0: auto chose the fastest)."""
    from msau.runtime.backends.auto import choose, cpu_capabilities, cpu_plan, int8_model_beside

    try:
        choice = choose(model)
    except Exception as error:  # auto cannot run this model here: say so in the document
        return AutoRow.from_json({"error": f"{type(error).__name__}: {error}"})
    summary = {"backend": choice.backend, "precision": choice.precision, "device": choice.device}
    if choice.device in ("CPU", "cpu"):
        summary["reason"] = cpu_plan(cpu_capabilities(), int8_model_beside(Path(model))).reason
    timed = {
        (result.backend, result.precision): entry.per_image_ms.p50
        for result in results
        for entry in result.batches
        if entry.status == OK and entry.batch == 1 and entry.size == size
    }
    if timed:
        fastest = min(timed, key=timed.get)
        summary["fastest"] = {"backend": fastest[0], "precision": fastest[1], "per_image_ms": timed[fastest]}
        chosen = timed.get((choice.backend, choice.precision))
        summary["per_image_ms"] = chosen
        summary["ratio_to_fastest"] = chosen / timed[fastest] if chosen is not None else None
    return AutoRow.from_json(summary)


def _without_runtime_work(result: ConfigResult) -> ConfigResult:
    """The result without the runtime's work (the document lists it apart)."""
    return replace(result, extra={k: v for k, v in result.extra.items() if k != "runtime_work"})


def latency_document(
    model: Path,
    configs: list[Config],
    settings: LatencySettings,
    command: str,
    peaks: bool = True,
    opener: Callable[[Config], object] = open_config,
    clock: Callable[[], float] = time.perf_counter,
    progress: Progress = None,
    isolate: bool = False,
    runtime_work: bool = True,
) -> Document:
    """Run the latency harness and return its document (host facts, model GFLOPs, peaks, results, auto's choice
    against the fastest). isolate runs each configuration in a process of its own (opener and clock then
    apply to the parent only) and, with runtime_work, times the runtime's work around each backend from real
    Colorizer calls (runtime_work: one entry per configuration)."""
    load = load_average()
    document = _header("latency", command)
    start = clock()
    if isolate:
        results = run_latency_isolated(configs, settings, progress=progress, runtime_work=runtime_work, clock=clock)
    else:
        results = run_latency(configs, settings, opener=opener, clock=clock, progress=progress)
    results = [replace(result, on_gpu=on_gpu(config)) for result, config in zip(results, configs)]
    model_info, gflops = _model_info(model, settings.sizes)
    wanted = {(("gpu" if r.on_gpu else "cpu"), r.precision) for r in results if r.status == OK}
    measured_peaks = measure_peaks(wanted) if peaks else None
    results = annotate(results, gflops, measured_peaks or {})
    work = [
        {"backend": r.backend, "precision": r.precision, **r.get("runtime_work")}
        for r in results
        if r.get("runtime_work")
    ]
    results = [_without_runtime_work(r) for r in results]
    document.update(
        host=_host(load),
        model=model_info,
        settings=settings_dict(settings),
        peaks=measured_peaks,
        results=[r.to_json() for r in results],
        runtime_work=work or None,
        auto=auto_summary(model, results, settings.sizes[0]).to_json(),
        isolated=isolate,
        elapsed_s=clock() - start,
    )
    return Document.from_json(document)


def quality_document(
    model: Path,
    configs: list[Config],
    photos: Sequence[Photo],
    folder: Path,
    left_out: list[dict],
    ratios: Sequence[float],
    command: str,
    seed: int = 0,
    grid: bool = False,
    batch_size: int = 8,
    sheet: Path | None = None,
    sheet_images: int = 3,
    sheet_ratio: float | None = None,
    opener: Callable[[Config], object] = open_config,
    progress: Progress = None,
    refine: bool = True,
) -> Document:
    """Run the quality harness (and draw the contact sheet if asked) and return its document."""
    load = load_average()
    document = _header("quality", command)
    size = photos[0].ground_truth.shape[0]
    outcome = run_quality(
        configs,
        photos,
        ratios,
        seed,
        grid,
        batch_size,
        opener,
        keep_images=sheet_images if sheet else 0,
        progress=progress,
        refine=refine,
    )
    results = [replace(result, on_gpu=on_gpu(config)) for result, config in zip(outcome.results, configs)]
    sheet_written = None
    if sheet is not None:
        ratio = sheet_ratio if sheet_ratio is not None else (0.005 if 0.005 in ratios else max(ratios))
        shown = photos[:sheet_images]
        image = contact_sheet([p.ground_truth for p in shown], outcome.hints[ratio], outcome.samples[ratio], ratio)
        sheet_written = str(write_contact_sheet(sheet, image))
    document.update(
        host=_host(load),
        model={"path": str(model)},
        images={"folder": str(folder), "files": [p.name for p in photos], "left_out": left_out},
        settings=quality_settings(size, ratios, seed, grid, batch_size, refine),
        reference=outcome.reference,
        results=[r.to_json() for r in results],
        contact_sheet=sheet_written,
    )
    return Document.from_json(document)


def compare_document(latency: Document, quality: Document, ratio: float, command: str) -> Document:
    """The comparison document built from a latency and a quality document of the same configurations."""
    size = latency.settings.sizes[0]
    document = _header("compare", command)
    rows = compare_rows(latency.results, quality.results, ratio, size, quality.reference)
    nested = {}
    for name, doc in (("latency", latency), ("quality", quality)):
        nested[name] = {k: v for k, v in doc.to_json().items() if k != "host"}
    document.update(
        host=latency.host,
        model=latency.model,
        settings={"ratio": ratio, "size": size},
        rows=[row.to_json() for row in rows],
        **nested,
    )
    return Document.from_json(document)
