"""Tables of benchmark results, as aligned text (stdout) or markdown, and the markdown results file that
benchmarks/results/<date>-cpu.md (or -gpu.md) holds: the exact command, the host, every table, the method."""

from __future__ import annotations

import math
from collections.abc import Sequence

from msau.benchmarks.outputs import read_float
from msau.benchmarks.schema import Document, Parity

Table = tuple[list[str], list[list[str]]]
REASON_CHARS = 72


def fmt(value, digits: int = 2) -> str:
    """A table cell: '-' for missing, 'inf' for infinite (PSNR of identical images), else fixed digits."""
    if value is None:
        return "-"
    number = read_float(value)
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if math.isnan(number):
        return "nan"
    return f"{number:.{digits}f}"


def small(value) -> str:
    """A cell for a figure that may be tiny (parity differences): 3 decimals, or 2 significant digits below 0.01."""
    if value is None:
        return "-"
    number = read_float(value)
    if number != 0 and math.isfinite(number) and abs(number) < 0.01:
        return f"{number:.1e}"
    return fmt(number, 3)


def percent(fraction) -> str:
    """A fraction as a percentage cell."""
    return "-" if fraction is None else f"{read_float(fraction) * 100:.1f}%"


def short(text: str, limit: int = REASON_CHARS) -> str:
    """text cut to limit characters with an ellipsis (full reasons stay in the JSON and markdown notes)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def status_cell(status: str, reason: str, limit: int | None = REASON_CHARS) -> str:
    if status == "ok" or not reason:
        return status
    return f"{status}: {short(reason, limit) if limit else reason}"


def _is_number(cell: str) -> bool:
    try:
        float(cell.rstrip("%"))
        return True
    except ValueError:
        return cell in ("-", "inf")


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned plain-text table; numeric columns right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table; numeric columns right-aligned."""
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(headers))]
    escape = lambda cell: str(cell).replace("|", "\\|")  # noqa: E731
    lines = [
        "| " + " | ".join(escape(h) for h in headers) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def latency_table(document: Document, reason_chars: int | None = REASON_CHARS) -> Table:
    """One row per measured (configuration, size, batch); one row for a configuration that never ran."""
    results = document.results
    cuda = any(b.cuda is not None for r in results for b in r.batches)
    headers = [
        "backend",
        "precision",
        "device",
        "size",
        "batch",
        "status",
        "runs",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "mean ms",
        "ms/img",
        "img/s",
        "GFLOP/s",
        "% peak",
    ]
    if cuda:
        headers += ["GPU compute ms", "H2D ms", "D2H ms"]
    rows = []
    for result in results:
        head = [result.backend, result.precision, str(result.device or "default")]
        if not result.batches:
            rows.append(
                head
                + ["-", "-", status_cell(result.status, result.reason, reason_chars)]
                + ["-"] * (len(headers) - 6)
            )
            continue
        for entry in result.batches:
            row = head + [str(entry.size), str(entry.batch)]
            if entry.status != "ok":
                rows.append(row + [status_cell(entry.status, entry.reason, reason_chars)] + ["-"] * (len(headers) - 6))
                continue
            stats = entry.latency_ms
            row += [
                "ok",
                str(entry.runs),
                fmt(stats.p50),
                fmt(stats.p90),
                fmt(stats.p99),
                fmt(stats.mean),
                fmt(entry.per_image_ms.p50),
                fmt(entry.images_per_s),
                fmt(entry.achieved_gflops_per_s, 1),
                percent(entry.fraction_of_peak),
            ]
            if cuda:
                timings = entry.cuda or {}
                row += [fmt((timings.get(k) or {}).get("p50")) for k in ("compute_ms", "h2d_ms", "d2h_ms")]
            rows.append(row)
    return headers, rows


def runtime_work_table(document: Document) -> Table:
    """Per configuration, from real Colorizer calls: end to end, the network alone, the runtime's work (their
    difference) and its share of the network's time, with the prepare / finish breakdown
    (msau.benchmarks.host_stages)."""
    headers = ["backend", "precision", "size", "hints", "end to end ms", "network ms", "runtime ms",
               "runtime / network", "prepare ms", "finish ms"]
    rows = [
        [w.backend, w.precision, str(w.size), str(w.hints), fmt(w.end_to_end_ms), fmt(w.network_ms),
         fmt(w.runtime_ms), percent(w.runtime_share), fmt(w.prepare_ms), fmt(w.finish_ms)]
        for w in document.runtime_work or []
        if w.error is None
    ]
    return headers, rows


def auto_table(document: Document) -> Table:
    """What auto chose here next to the fastest configuration measured (batch 1)."""
    auto = document.auto
    if auto.error is not None:
        return ["auto"], [[auto.error]]
    fastest = auto.fastest
    headers = ["auto chose", "ms/img", "why", "fastest measured", "ms/img", "auto / fastest"]
    chosen = f"{auto.backend}/{auto.precision}"
    best = f"{fastest.backend}/{fastest.precision}" if fastest else "-"
    ratio = auto.ratio_to_fastest
    return headers, [[chosen, fmt(auto.per_image_ms), auto.reason or "", best,
                      fmt(fastest.per_image_ms if fastest else None), fmt(ratio) if ratio is not None else "not measured"]]


def quality_table(document: Document, reason_chars: int | None = REASON_CHARS) -> Table:
    """One row per configuration and hint ratio: PSNR, SSIM and parity against the reference."""
    headers = ["backend", "precision", "hints", "status", "PSNR dB", "SSIM", "max |dab|", "mean |dab|", "PSNR vs ref"]
    rows = []
    for result in document.results:
        head = [result.backend, result.precision]
        if result.status != "ok":
            rows.append(head + ["-", status_cell(result.status, result.reason, reason_chars)] + ["-"] * 5)
            continue
        is_reference = document.reference == result.name
        for entry in result.by_ratio:
            parity = entry.parity or Parity()
            tail = (
                ["ref"] * 3
                if is_reference
                else [
                    small(parity.max_abs_ab),
                    small(parity.mean_abs_ab),
                    fmt(parity.psnr_vs_reference),
                ]
            )
            rows.append(
                head
                + [f"{read_float(entry.ratio) * 100:g}%", "ok", fmt(entry.psnr), fmt(entry.ssim, 4)]
                + tail
            )
    return headers, rows


def compare_table(document: Document, reason_chars: int | None = REASON_CHARS) -> Table:
    """The comparison: status, size, quality at one ratio, latency at batch 1, best throughput, roofline."""
    headers = [
        "backend",
        "precision",
        "status",
        "size MB",
        "PSNR dB",
        "SSIM",
        "max |dab|",
        "ms/img b1",
        "img/s (batch)",
        "GFLOP/s",
        "% peak",
    ]
    rows = []
    for row in document.rows:
        throughput = "-" if row.images_per_s is None else f"{fmt(row.images_per_s)} ({row.best_batch})"
        rows.append(
            [
                row.backend,
                row.precision,
                status_cell(row.status, row.reason, reason_chars),
                fmt(row.artifact_mb, 1),
                fmt(row.psnr),
                fmt(row.ssim, 4),
                "ref" if row.is_reference else small(row.max_abs_ab),
                fmt(row.ms_per_image_b1),
                throughput,
                fmt(row.achieved_gflops_per_s, 1),
                percent(row.fraction_of_peak),
            ]
        )
    return headers, rows


def roofline_table(document: Document) -> Table:
    """Per measured configuration: work per image, best achieved GFLOP/s and the matching matmul peak."""
    headers = [
        "backend",
        "precision",
        "size",
        "GFLOPs/img",
        "best img/s (batch)",
        "achieved GFLOP/s",
        "peak GFLOP/s",
        "% of peak",
        "peak measured as",
    ]
    peaks = document.peaks or {}
    rows = []
    for result in document.results:
        measured = [b for b in result.batches if b.status == "ok"]
        for size in sorted({b.size for b in measured}):
            best = max((b for b in measured if b.size == size), key=lambda b: read_float(b.images_per_s))
            peak = peaks.get(best.peak_key or "")
            rows.append(
                [
                    result.backend,
                    result.precision,
                    str(size),
                    fmt(best.gflops_per_image),
                    f"{fmt(best.images_per_s)} ({best.batch})",
                    fmt(best.achieved_gflops_per_s, 1),
                    fmt(peak.gflops if peak else None, 1),
                    percent(best.fraction_of_peak),
                    short(peak.how if peak is not None and peak.how is not None else "-", 60),
                ]
            )
    return headers, rows


def host_lines(host: dict) -> list[str]:
    """The host facts as short 'name: value' lines."""
    cpu = host.get("cpu", {})
    lines = [
        f"CPU: {cpu.get('model', '?')} ({cpu.get('physical_cores') or '?'} physical / {cpu.get('logical_cores') or '?'} "
        f"logical cores, {cpu.get('usable_cores') or '?'} usable; {', '.join(cpu.get('features', [])) or 'no AVX-512/AMX'})",
        f"memory: {host.get('memory_gb') or '?'} GiB",
    ]
    gpus = host.get("gpus") or []
    lines.append(
        "GPU: "
        + (
            "; ".join(f"{g['name']} (driver {g['driver']}, {g.get('memory_gb') or '?'} GiB)" for g in gpus)
            if gpus
            else "none"
        )
    )
    if host.get("cuda"):
        lines.append("CUDA: " + ", ".join(f"{k} {v}" for k, v in host["cuda"].items()))
    lines.append(f"OS: {host.get('os', '?')}; Python {host.get('python', '?')}")
    lines.append("libraries: " + ", ".join(f"{k} {v}" for k, v in (host.get("libraries") or {}).items()))
    if host.get("load_average"):
        lines.append("load average (1/5/15 min) at start: " + " / ".join(str(v) for v in host["load_average"]))
    if host.get("threads_env"):
        lines.append("thread settings: " + ", ".join(f"{k}={v}" for k, v in host["threads_env"].items()))
    return lines


def print_tables(document: Document) -> str:
    """The text that a subcommand prints: its tables, titled."""
    parts = []
    for title, (headers, rows) in document_tables(document):
        parts.append(f"{title}\n{text_table(headers, rows)}")
    return "\n\n".join(parts)


def document_tables(document: Document, reason_chars: int | None = REASON_CHARS) -> list[tuple[str, Table]]:
    """(title, table) pairs of a result document, in reading order."""
    kind = document.kind
    if kind == "latency":
        tables = [("Latency", latency_table(document, reason_chars))]
        if document.peaks is not None:
            tables.append(("Roofline", roofline_table(document)))
        if document.auto is not None:
            tables.append(("auto on this machine", auto_table(document)))
        if document.runtime_work:
            tables.append(("The runtime's work per image, from real Colorizer calls (ms, median)",
                           runtime_work_table(document)))
        return tables
    if kind == "quality":
        return [("Quality", quality_table(document, reason_chars))]
    if kind == "compare":
        return (
            [("Comparison", compare_table(document, reason_chars))]
            + document_tables(document.latency, reason_chars)
            + document_tables(document.quality, reason_chars)
        )
    raise ValueError(f"unknown result kind {kind!r}")


def gflops_text(per_size: dict | None) -> str:
    """'9.72 at 256x256' for the recorded GFLOPs per image by size."""
    if not per_size:
        return "not counted"
    return ", ".join(f"{fmt(value)} at {size}x{size}" for size, value in per_size.items())


def method_lines(document: Document) -> list[str]:
    """How the figures were made, from the settings recorded in the document."""
    kind = document.kind
    settings = document.settings
    if kind == "compare":
        ratio = read_float(settings.ratio)
        return (
            [
                f"Comparison: quality at {ratio * 100:g}% hints; ms/img b1 is the per-image p50 at batch 1; img/s at "
                "the batch size with the highest throughput; GFLOP/s and % peak at that batch."
            ]
            + method_lines(document.latency)
            + method_lines(document.quality)
        )
    if kind == "latency":
        model = document.model or {}
        return [
            f"Latency: sizes {settings.sizes}, batch sizes {settings.batch_sizes}; per measurement at least one "
            f"warm-up run (until {settings.warmup_s} s), then timed runs until {settings.budget_s} s and at least "
            f"{settings.min_runs} runs, within a fair share of an overall {settings.time_limit_s} s limit "
            "(measurements that do not fit are listed as skipped). Times are wall-clock around backend.infer on host "
            "arrays (host-device copies included); percentiles use linear interpolation (numpy's default).",
            f"Roofline: GFLOPs per image {gflops_text(model.get('gflops_per_image'))} "
            f"({model.get('gflops_source', '?')}); achieved GFLOP/s = GFLOPs per image x images/s; peak = best "
            "measured square matmul of that precision on that device (a practical ceiling, not the datasheet figure; "
            "it uses the threads the libraries pick by default). Above 100% means the backend beat that measurement: "
            "noise on a busy machine, or a better kernel than the matmul's.",
        ]
    if kind == "quality":
        return [
            f"Quality: {len(document.images['files'])} photo(s) from {document.images['folder']}; "
            f"{settings.preprocessing}; hints: {settings.hint_sampling} (seed {settings.seed}"
            f"{', with the 7x7 grid' if settings.grid else ''}); {settings.metrics}; parity: {settings.parity} "
            f"against {document.reference or 'no reference (none ran)'}.",
        ]
    raise ValueError(f"unknown result kind {kind!r}")


def footnotes(document: Document) -> list[str]:
    """Full reasons for every configuration or measurement that did not run (tables show them cut short);
    a reason that both harnesses give is listed once."""
    notes: dict[str, list[str]] = {}
    for doc in document.parts():
        for result in doc.results:
            if result.status != "ok":
                notes.setdefault(f"{result.name}: {result.status}: {result.reason}", []).append(doc.kind)
            for entry in result.batches:
                where = f"{result.name}, size {entry.size}, batch {entry.batch}"
                if entry.status != "ok" and result.status == "ok":
                    notes.setdefault(f"{where}: {entry.status}: {entry.reason}", []).append(doc.kind)
                elif entry.note:
                    notes.setdefault(f"{where}: {entry.note}", []).append(doc.kind)
    return [f"{' and '.join(dict.fromkeys(kinds))}, {text}" for text, kinds in notes.items()]


def is_gpu_run(document: Document) -> bool:
    """True if any configuration that ran used a GPU (the results file is then named -gpu)."""
    return any(r.on_gpu and r.status == "ok" for doc in document.parts() for r in doc.results)


def results_filename(document: Document) -> str:
    """<date>-cpu.md or <date>-gpu.md for a document (date of the run, from its 'created' field)."""
    return f"{document.created[:10]}-{'gpu' if is_gpu_run(document) else 'cpu'}.md"


def render_markdown(documents: Sequence[Document]) -> str:
    """The results file: title, exact commands, host, every table, method and notes."""
    if not documents:
        raise ValueError("no result documents to render")
    first = documents[0]
    place = "GPU" if any(is_gpu_run(d) for d in documents) else "CPU"
    out = [f"# msau-bench results: {first.created[:10]}, {place}", ""]
    out += ["Produced with:", "", "```sh", *(d.command for d in documents), "```", ""]
    model = first.model or {}
    if model.get("path"):
        out += [
            f"Model: `{model['path']}`" + (f" (msau {first.msau_version})" if first.msau_version else ""),
            "",
        ]
    out += ["## Host", "", *(f"- {line}" for line in host_lines(first.host or {})), ""]
    for document in documents:
        for title, (headers, rows) in document_tables(document, reason_chars=40):
            out += [f"## {title}", "", markdown_table(headers, rows), ""]
    out += ["## Method", ""]
    for document in documents:
        out += [f"- {line}" for line in method_lines(document)]
    notes = [note for document in documents for note in footnotes(document)]
    if notes:
        out += ["", "## Notes", "", *(f"- {note}" for note in notes)]
    return "\n".join(out) + "\n"
