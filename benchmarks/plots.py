"""PNG plots of benchmark results with matplotlib (an optional dependency: the `bench` extra).

latency: ms per image (p50, p90-p99 band) and images/s against batch size, one line per configuration;
quality: PSNR and SSIM against hint ratio, one line per configuration; compare: images/s at the best batch
size per configuration, labelled with that batch and the PSNR.
"""

from __future__ import annotations

import io
from pathlib import Path

from msau.benchmarks.outputs import read_float
from msau.benchmarks.schema import CompareRow, ConfigResult, Document
from msau.runtime.atomic import write_bytes_atomic

DPI = 120


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed; the message names the extra that brings it."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window, work without a display
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PlotUnavailableError("drawing plots needs matplotlib: pip install 'msau[bench]'") from error
    return plt


def _save(figure, path: str | Path) -> Path:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return write_bytes_atomic(path, buffer.getvalue())


def _label(result: ConfigResult | CompareRow) -> str:
    device = result.device
    return f"{result.backend} {result.precision}" + (f" ({device})" if device not in (None, "default") else "")


def plot_latency(document: Document, path: str | Path) -> Path:
    """Latency vs batch size per configuration (one column of panels per input size)."""
    plt = _pyplot()
    sizes = document.settings.sizes
    figure, axes = plt.subplots(2, len(sizes), figsize=(6.5 * len(sizes), 7), squeeze=False)
    for column, size in enumerate(sizes):
        top, bottom = axes[0][column], axes[1][column]
        for result in document.results:
            points = sorted((b for b in result.batches if b.status == "ok" and b.size == size), key=lambda b: b.batch)
            if not points:
                continue
            batches = [b.batch for b in points]
            p50 = [read_float(b.per_image_ms.p50) for b in points]
            line = top.plot(batches, p50, marker="o", label=_label(result))[0]
            top.fill_between(
                batches, p50, [read_float(b.per_image_ms.p99) for b in points], color=line.get_color(), alpha=0.15
            )
            bottom.plot(batches, [read_float(b.images_per_s) for b in points], marker="o", label=_label(result))
        ticks = sorted(document.settings.batch_sizes)
        for axis, ylabel in ((top, "ms per image (p50, shaded up to p99)"), (bottom, "images / s")):
            axis.set_xscale("log", base=2)
            axis.set_xticks(ticks, [str(t) for t in ticks])
            axis.set_xlabel("batch size")
            axis.set_ylabel(ylabel)
            axis.grid(True, alpha=0.3)
        top.set_title(f"msau-bench latency, {size}x{size}")
        if top.get_legend_handles_labels()[0]:
            top.legend(fontsize=8)
    return _save(figure, path)


def plot_quality(document: Document, path: str | Path) -> Path:
    """PSNR and SSIM vs hint ratio per configuration."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for result in document.results:
        if result.status != "ok":
            continue
        ratios = [read_float(e.ratio) * 100 for e in result.by_ratio]
        # An infinite PSNR (a perfect result) cannot be drawn; leave that point out.
        psnrs = [read_float(e.psnr) for e in result.by_ratio]
        left.plot(ratios, [p if p != float("inf") else float("nan") for p in psnrs], marker="o", label=_label(result))
        right.plot(ratios, [read_float(e.ssim) for e in result.by_ratio], marker="o", label=_label(result))
    for axis, ylabel in ((left, "PSNR (dB)"), (right, "SSIM")):
        axis.ticklabel_format(axis="y", useOffset=False)
        axis.set_xlabel("hints (% of pixels)")
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
    left.set_title(f"msau-bench quality: PSNR vs hint ratio ({len(document.images['files'])} photos)")
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    return _save(figure, path)


def plot_compare(document: Document, path: str | Path) -> Path:
    """Throughput at the best batch size per configuration (bars), each labelled with its batch and PSNR."""
    plt = _pyplot()
    rows = [r for r in document.rows if r.status == "ok" and r.images_per_s is not None]
    rows.sort(key=lambda r: read_float(r.images_per_s))
    figure, axis = plt.subplots(figsize=(8, 1.2 + 0.45 * max(1, len(rows))))
    labels = [f"{r.backend} {r.precision}" for r in rows]
    values = [read_float(r.images_per_s) for r in rows]
    bars = axis.barh(labels, values, color="tab:blue")
    ratio = read_float(document.settings.ratio) * 100
    for bar, row in zip(bars, rows):
        psnr = "-" if row.psnr is None else f"{read_float(row.psnr):.2f} dB"
        axis.annotate(
            f"  batch {row.best_batch}, {psnr}",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=8,
        )
    axis.set_xlabel(f"images / s at the best batch size (label: that batch, PSNR at {ratio:g}% hints)")
    axis.set_xlim(0, max(values, default=1.0) * 1.35)
    axis.set_title("msau-bench compare")
    axis.grid(True, axis="x", alpha=0.3)
    return _save(figure, path)
