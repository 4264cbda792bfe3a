import json

from msau.benchmarks.schema import BatchEntry, CompareRow, ConfigResult, Document, TimingStats

LATENCY = {
    "kind": "latency",
    "msau_version": "0.1",
    "created": "2026-12-01T10:00:00+00:00",
    "command": "msau-bench latency m.onnx",
    "host": {"cpu": {"model": "x"}, "load_average": None},
    "model": {"path": "m.onnx", "gflops_per_image": {"256": 9.72}, "gflops_source": "onnx"},
    "settings": {"sizes": [256], "batch_sizes": [1, 8]},
    "peaks": {"cpu-fp32": {"gflops": 600.0, "how": "matmul 2048"}},
    "results": [
        {
            "backend": "onnxruntime",
            "precision": "fp32",
            "device": "default",
            "artifact": "m.onnx",
            "artifact_mb": 11.8,
            "status": "ok",
            "reason": "",
            "batches": [
                {
                    "size": 256,
                    "batch": 1,
                    "status": "ok",
                    "reason": "",
                    "first_run_ms": 30.0,
                    "warmup_runs": 3,
                    "runs": 5,
                    "latency_ms": {
                        "count": 5,
                        "mean": 20,
                        "p50": 20.0,
                        "p90": 22.0,
                        "p99": 24.0,
                        "min": 19.0,
                        "max": 24.0,
                        "std": 1.0,
                    },
                    "per_image_ms": {
                        "count": 5,
                        "mean": 20,
                        "p50": 20.0,
                        "p90": 22.0,
                        "p99": 24.0,
                        "min": 19.0,
                        "max": 24.0,
                        "std": 1.0,
                    },
                    "images_per_s": 50.0,
                    "gflops_per_image": 9.72,
                    "achieved_gflops_per_s": 486.0,
                    "peak_key": "cpu-fp32",
                    "fraction_of_peak": 0.81,
                },
                {"size": 256, "batch": 8, "status": "skipped", "reason": "time limit"},
            ],
            "open_s": 0.1,
            "on_gpu": False,
            "something_new": [1, 2],
        }
    ],
    "runtime_work": None,
    "auto": {"error": "RuntimeError: no backend"},
    "isolated": False,
    "elapsed_s": 1.5,
}


def test_round_trip_keeps_keys_order_and_absent_fields():
    document = Document.from_json(json.loads(json.dumps(LATENCY)))
    assert json.dumps(document.to_json()) == json.dumps(LATENCY)
    entry = document.results[0].batches[1]
    assert (entry.status, entry.runs, entry.latency_ms) == ("skipped", None, None)
    assert "runs" not in entry.to_json()


def test_records_are_typed():
    document = Document.from_json(LATENCY)
    result = document.results[0]
    assert isinstance(result, ConfigResult) and result.name == "onnxruntime/fp32"
    assert isinstance(result.batches[0], BatchEntry)
    assert isinstance(result.batches[0].per_image_ms, TimingStats) and result.batches[0].per_image_ms.p50 == 20.0
    assert document.peaks["cpu-fp32"].gflops == 600.0
    assert document.auto.error == "RuntimeError: no backend" and document.auto.backend is None
    assert result.get("something_new") == [1, 2]


def test_record_built_in_code_writes_every_field():
    row = CompareRow(backend="torch", precision="fp32", device="None", status="ok", reason="")
    assert list(row.to_json()) == [
        "backend",
        "precision",
        "device",
        "status",
        "reason",
        "artifact_mb",
        "psnr",
        "ssim",
        "max_abs_ab",
        "ms_per_image_b1",
        "images_per_s",
        "best_batch",
        "achieved_gflops_per_s",
        "fraction_of_peak",
        "is_reference",
    ]


def test_compare_nests_documents():
    compare = {"kind": "compare", "rows": [], "latency": LATENCY, "quality": {"kind": "quality", "results": []}}
    document = Document.from_json(compare)
    assert [d.kind for d in document.parts()] == ["compare", "latency", "quality"]
    assert document.to_json() == compare


def test_field_set_after_reading_is_written_after_the_source_keys():
    from dataclasses import replace

    result = ConfigResult.from_json({"backend": "torch", "precision": "fp32", "status": "ok", "reason": ""})
    assert list(replace(result, on_gpu=True).to_json()) == ["backend", "precision", "status", "reason", "on_gpu"]
    assert list(result.to_json()) == ["backend", "precision", "status", "reason"]

    added = replace(result, extra={"runtime_work": {"runs": 2}}).to_json()
    assert added == {"backend": "torch", "precision": "fp32", "status": "ok", "reason": "", "runtime_work": {"runs": 2}}
