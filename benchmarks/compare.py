"""One comparison table, in the manner of Ultralytics' `yolo benchmark`: per backend/precision the status,
artifact size, quality at one hint ratio, latency at batch 1 and throughput at the best batch size, and
where that throughput stands against the machine's matmul peak."""

from __future__ import annotations

from msau.benchmarks.configs import FAILED, OK, SKIPPED
from msau.benchmarks.schema import BatchEntry, CompareRow, ConfigResult, RatioEntry


def _identity(result: ConfigResult) -> tuple[str, str, str]:
    return result.backend, result.precision, str(result.device)


def _status(latency: ConfigResult | None, quality: ConfigResult | None) -> tuple[str, str]:
    """Failed if either harness failed, skipped if either skipped, else ok; the reason says which harness."""
    parts = [("latency", latency), ("quality", quality)]
    for status in (FAILED, SKIPPED):
        for name, result in parts:
            if result is not None and result.status == status:
                return status, f"{name}: {result.reason}"
    if all(result is None for _, result in parts):
        return SKIPPED, "not measured"
    return OK, ""


def _measured(latency: ConfigResult, size: int) -> list[BatchEntry]:
    return [b for b in latency.batches if b.status == OK and b.size == size]


def best_throughput(latency: ConfigResult, size: int) -> BatchEntry | None:
    """The measured batch entry with the most images/s at this size, or None."""
    measured = _measured(latency, size)
    return max(measured, key=lambda b: b.images_per_s) if measured else None


def batch_entry(latency: ConfigResult, size: int, batch: int) -> BatchEntry | None:
    """The measured entry for (size, batch), or None."""
    return next((b for b in _measured(latency, size) if b.batch == batch), None)


def ratio_entry(quality: ConfigResult, ratio: float) -> RatioEntry | None:
    """The quality entry at a hint ratio, or None."""
    return next((r for r in quality.by_ratio if abs(r.ratio - ratio) < 1e-12), None)


def compare_rows(
    latency_results: list[ConfigResult],
    quality_results: list[ConfigResult],
    ratio: float,
    size: int,
    reference: str | None = None,
) -> list[CompareRow]:
    """One row per configuration (latency order, then any only in quality): the table's fields.

    reference: the key ("torch/fp32") of the parity reference, flagged in its row.
    """
    latency_by_id = {_identity(r): r for r in latency_results}
    quality_by_id = {_identity(q): q for q in quality_results}
    identities = list(latency_by_id) + [i for i in quality_by_id if i not in latency_by_id]
    rows = []
    for identity in identities:
        lat, qual = latency_by_id.get(identity), quality_by_id.get(identity)
        status, reason = _status(lat, qual)
        quality_ok = qual is not None and qual.status == OK
        fields = {}
        if quality_ok and (entry := ratio_entry(qual, ratio)) is not None:
            fields.update(
                psnr=entry.psnr,
                ssim=entry.ssim,
                max_abs_ab=entry.parity.max_abs_ab if entry.parity else None,
            )
        if lat is not None and lat.status == OK:
            if (one := batch_entry(lat, size, 1)) is not None:
                fields["ms_per_image_b1"] = one.per_image_ms.p50
            if (best := best_throughput(lat, size)) is not None:
                fields.update(
                    images_per_s=best.images_per_s,
                    best_batch=best.batch,
                    achieved_gflops_per_s=best.achieved_gflops_per_s,
                    fraction_of_peak=best.fraction_of_peak,
                )
        rows.append(
            CompareRow(
                backend=identity[0],
                precision=identity[1],
                device=identity[2],
                status=status,
                reason=reason,
                artifact_mb=(lat or qual).artifact_mb if status == OK else None,
                is_reference=reference == f"{identity[0]}/{identity[1]}" and quality_ok,
                **fields,
            )
        )
    return rows
