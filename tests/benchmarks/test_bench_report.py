import json

import pytest

from msau.benchmarks.compare import compare_rows
from msau.benchmarks.outputs import jsonable, read_json, write_json
from msau.benchmarks.report import (
    compare_table,
    fmt,
    latency_table,
    markdown_table,
    quality_table,
    render_markdown,
    results_filename,
    text_table,
)
from msau.benchmarks.schema import ConfigResult, Document


def batch(size, n, p50, images_per_s, status="ok", **extra):
    stats = {
        "count": 5,
        "mean": p50,
        "p50": p50,
        "p90": p50 * 1.1,
        "p99": p50 * 1.2,
        "min": p50,
        "max": p50 * 1.2,
        "std": 0.0,
    }
    entry = {
        "size": size,
        "batch": n,
        "status": status,
        "reason": "",
        "runs": 5,
        "latency_ms": stats,
        "per_image_ms": {k: (v / n if k not in ("count",) else v) for k, v in stats.items()},
        "images_per_s": images_per_s,
    }
    entry.update(extra)
    return entry


def latency_result(backend, precision, status="ok", reason="", batches=(), mb=11.8):
    return {
        "backend": backend,
        "precision": precision,
        "device": "default",
        "artifact": f"m.{backend}",
        "artifact_mb": mb,
        "status": status,
        "reason": reason,
        "open_s": 0.1,
        "batches": list(batches),
        "on_gpu": False,
    }


def quality_result(backend, precision, psnr, ssim, parity=None, status="ok", reason=""):
    return {
        "backend": backend,
        "precision": precision,
        "device": "default",
        "artifact_mb": 11.8,
        "status": status,
        "reason": reason,
        "on_gpu": False,
        "by_ratio": [] if status != "ok" else [{"ratio": 0.005, "psnr": psnr, "ssim": ssim, "parity": parity}],
    }


LATENCY = [
    latency_result(
        "onnxruntime",
        "fp32",
        batches=[
            batch(256, 1, 20.0, 50.0, achieved_gflops_per_s=486.0, fraction_of_peak=0.8),
            batch(256, 8, 120.0, 66.7, achieved_gflops_per_s=648.3, fraction_of_peak=0.9),
            {"size": 256, "batch": 32, "status": "skipped", "reason": "time limit: needs about 8.0 s"},
        ],
    ),
    latency_result("openvino", "bf16", batches=[batch(256, 1, 10.0, 100.0)]),
    latency_result("tensorrt", "-", status="skipped", reason="no .engine file for the tensorrt backend", mb=None),
    latency_result("torch", "fp32", batches=[batch(256, 1, 400.0, 2.5)]),
]
QUALITY = [
    quality_result(
        "onnxruntime", "fp32", 30.5, 0.95, {"max_abs_ab": 2e-5, "mean_abs_ab": 1e-6, "psnr_vs_reference": float("inf")}
    ),
    quality_result("openvino", "bf16", 0, 0, status="failed", reason="ValueError: backend returned non-finite values"),
    quality_result("tensorrt", "-", 0, 0, status="skipped", reason="no .engine file for the tensorrt backend"),
    quality_result("torch", "fp32", 30.5, 0.95),
]



def typed(results: list[dict]) -> list[ConfigResult]:
    return [ConfigResult.from_json(r) for r in results]

def test_compare_rows_join_latency_and_quality():
    rows = {r.backend: r for r in compare_rows(typed(LATENCY), typed(QUALITY), 0.005, 256, reference="torch/fp32")}
    ort = rows["onnxruntime"]
    assert ort.status == "ok"
    assert ort.ms_per_image_b1 == 20.0
    assert (ort.images_per_s, ort.best_batch) == (66.7, 8)
    assert ort.fraction_of_peak == 0.9 and ort.max_abs_ab == 2e-5
    assert (ort.psnr, ort.ssim, ort.artifact_mb) == (30.5, 0.95, 11.8)
    assert rows["openvino"].status == "failed"
    assert rows["openvino"].reason == "quality: ValueError: backend returned non-finite values"
    assert rows["openvino"].psnr is None and rows["openvino"].ms_per_image_b1 == 10.0
    assert rows["tensorrt"].status == "skipped" and rows["tensorrt"].reason.startswith("latency: no .engine")
    assert rows["torch"].is_reference and not ort.is_reference


def test_compare_table_has_status_reasons_and_units():
    rows = compare_rows(typed(LATENCY), typed(QUALITY), 0.005, 256, "torch/fp32")
    document = Document(kind="compare", rows=rows)
    headers, rows = compare_table(document)
    assert headers[:4] == ["backend", "precision", "status", "size MB"]
    assert rows[0] == [
        "onnxruntime",
        "fp32",
        "ok",
        "11.8",
        "30.50",
        "0.9500",
        "2.0e-05",
        "20.00",
        "66.70 (8)",
        "648.3",
        "90.0%",
    ]
    assert rows[1][2] == "failed: quality: ValueError: backend returned non-finite values"
    assert rows[2][2].startswith("skipped: latency: no .engine") and rows[2][3] == "-"
    assert rows[3][6] == "ref"
    text = text_table(headers, rows)
    lines = text.splitlines()
    assert lines[0].startswith("backend ") and set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + len(rows)
    assert all(len(line) <= len(lines[1]) for line in lines)


def test_latency_and_quality_tables():
    headers, rows = latency_table(Document.from_json({"kind": "latency", "results": LATENCY}))
    assert headers[7:10] == ["p50 ms", "p90 ms", "p99 ms"]
    assert rows[0][:10] == ["onnxruntime", "fp32", "default", "256", "1", "ok", "5", "20.00", "22.00", "24.00"]
    assert rows[2][5] == "skipped: time limit: needs about 8.0 s" and rows[2][7] == "-"
    assert rows[4][3:6] == ["-", "-", "skipped: no .engine file for the tensorrt backend"]
    headers, rows = quality_table(Document.from_json({"kind": "quality", "results": QUALITY, "reference": "torch/fp32"}))
    assert rows[0] == ["onnxruntime", "fp32", "0.5%", "ok", "30.50", "0.9500", "2.0e-05", "1.0e-06", "inf"]
    assert rows[3][-3:] == ["ref", "ref", "ref"]


def test_cells_and_markdown():
    assert fmt(None) == "-" and fmt(float("inf")) == "inf" and fmt("inf") == "inf" and fmt(1.234, 1) == "1.2"
    table = markdown_table(["a", "b|c"], [["x", "1.5"], ["y", "-"]])
    assert table.splitlines() == ["| a | b\\|c |", "|---|---:|", "| x | 1.5 |", "| y | - |"]


def test_json_is_strict_and_reads_back(tmp_path):
    document = {"kind": "quality", "value": float("inf"), "nan": float("nan"), "path": tmp_path, "t": (1, 2)}
    path = write_json(tmp_path / "out" / "q.json", document)
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"kind": "quality", "value": "inf", "nan": "nan", "path": str(tmp_path), "t": [1, 2]}
    assert read_json(path)["value"] == "inf"
    assert not list(path.parent.glob(".*tmp"))
    (tmp_path / "other.json").write_text('{"kind": "something"}')
    with pytest.raises(ValueError, match="other.json: not an msau-bench result"):
        read_json(tmp_path / "other.json")
    assert jsonable({1: [float("-inf")]}) == {"1": ["-inf"]}


def test_markdown_results_file_names_the_command_host_and_tables():
    latency = {
        "kind": "latency",
        "created": "2025-11-25T15:00:00+00:00",
        "command": "msau-bench latency --json l.json",
        "host": {
            "cpu": {
                "model": "AMD EPYC",
                "physical_cores": 2,
                "logical_cores": 2,
                "usable_cores": 2,
                "features": ["avx512f", "avx512_bf16"],
            },
            "memory_gb": 8.0,
            "gpus": [],
            "libraries": {"onnxruntime": "1.23.0"},
            "load_average": [2.5, 2.0, 1.5],
        },
        "model": {
            "path": "msau/models/msau-tiny.onnx",
            "gflops_per_image": {"256": 9.72},
            "gflops_source": "ONNX graph",
        },
        "settings": {
            "sizes": [256],
            "batch_sizes": [1, 8, 32],
            "warmup_s": 0.25,
            "budget_s": 2.0,
            "min_runs": 3,
            "time_limit_s": 34.0,
        },
        "peaks": {"cpu/fp32": {"gflops": 150.0, "how": "numpy float32 matmul"}},
        "results": LATENCY,
    }
    text = render_markdown([Document.from_json(latency)])
    assert text.startswith("# msau-bench results: 2025-11-25, CPU\n")
    assert "```sh\nmsau-bench latency --json l.json\n```" in text
    assert "- CPU: AMD EPYC (2 physical / 2 logical cores, 2 usable; avx512f, avx512_bf16)" in text
    assert "## Latency\n\n| backend | precision |" in text and "## Roofline" in text
    assert "tensorrt/-: skipped: no .engine file for the tensorrt backend" in text
    assert "size 256, batch 32: skipped: time limit: needs about 8.0 s" in text
    assert results_filename(Document.from_json(latency)) == "2025-11-25-cpu.md"
    gpu = dict(latency, results=[dict(LATENCY[0], on_gpu=True)])
    assert results_filename(Document.from_json(gpu)) == "2025-11-25-gpu.md"
