import json
import sys

import pytest

from msau.benchmarks.cli import main

QUICK = [
    "--sizes",
    "32",
    "--batch-sizes",
    "1",
    "2",
    "--time-limit",
    "20",
    "--budget",
    "0.02",
    "--warmup",
    "0",
    "--min-runs",
    "2",
    "--max-runs",
    "3",
    "--no-peaks",
]


@pytest.fixture
def photo_folder(tmp_path, make_image, save_png):
    folder = tmp_path / "photos"
    for i in range(3):
        save_png(folder / f"photo{i}.png", make_image(40, 56, seed=i))
    return folder


@pytest.mark.parametrize("command", [[], ["latency"], ["quality"], ["compare"], ["report"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: msau-bench" in capsys.readouterr().out


def test_latency_end_to_end(tiny_artifacts, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    args = [
        "latency",
        "--model",
        str(tiny_artifacts),
        "--backends",
        "onnxruntime",
        "openvino",
        "--precisions",
        "fp32",
        *QUICK,
        "--json",
        str(out / "l.json"),
        "--markdown",
        str(out),
        "--plot",
        str(out / "l.png"),
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Latency" in captured.out and "onnxruntime" in captured.out
    assert "onnxruntime/fp32 32x32 batch 1: p50" in captured.err
    document = json.loads((out / "l.json").read_text())
    assert document["kind"] == "latency"
    assert document["command"] == "msau-bench " + " ".join(args[0:1] + args[1:])
    assert document["host"]["cpu"]["logical_cores"] >= 1 and "numpy" in document["host"]["libraries"]
    assert document["model"]["gflops_per_image"]["32"] > 0
    by_backend = {r["backend"]: r for r in document["results"]}
    for name in ("onnxruntime", "openvino"):
        result = by_backend[name]
        assert result["status"] == "ok", result["reason"]
        assert [b["batch"] for b in result["batches"]] == [1, 2]
        for entry in result["batches"]:
            assert {"p50", "p90", "p99"} <= set(entry["latency_ms"])
            assert 2 <= entry["runs"] <= 3
            assert entry["latency_ms"]["p50"] > 0 and entry["images_per_s"] > 0
    (markdown,) = out.glob("*-cpu.md")
    assert document["command"] in markdown.read_text()
    assert (out / "l.png").read_bytes()[:4] == b"\x89PNG"


def test_quality_compare_and_report_end_to_end(tiny_artifacts, photo_folder, tmp_path, capsys):
    quality_json, compare_json = tmp_path / "q.json", tmp_path / "c.json"
    code = main(
        [
            "quality",
            "--model",
            str(tiny_artifacts),
            "--images",
            str(photo_folder),
            "--size",
            "32",
            "--ratios",
            "0",
            "1%",
            "--backends",
            "onnxruntime",
            "torch",
            "--precisions",
            "fp32",
            "--json",
            str(quality_json),
            "--plot",
            str(tmp_path / "q.png"),
            "--sheet",
            str(tmp_path / "s.png"),
            "--sheet-images",
            "2",
        ]
    )
    assert code == 0
    quality = json.loads(quality_json.read_text())
    assert quality["reference"] == "torch/fp32"
    assert quality["settings"]["ratios"] == [0.0, 0.01]
    assert quality["images"]["files"] == ["photo0.png", "photo1.png", "photo2.png"]
    ort = next(r for r in quality["results"] if r["backend"] == "onnxruntime")
    assert ort["by_ratio"][1]["parity"]["max_abs_ab"] < 0.01
    assert (tmp_path / "s.png").is_file() and (tmp_path / "q.png").is_file()

    code = main(
        [
            "compare",
            "--model",
            str(tiny_artifacts),
            "--images",
            str(photo_folder),
            "--size",
            "32",
            "--backends",
            "onnxruntime",
            "torch",
            "--precisions",
            "fp32",
            "--ratio",
            "0.01",
            *[a for a in QUICK if a not in ("--sizes", "32")],
            "--json",
            str(compare_json),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "Comparison" in captured.out and "img/s (batch)" in captured.out
    compare = json.loads(compare_json.read_text())
    rows = {r["backend"]: r for r in compare["rows"]}
    assert rows["onnxruntime"]["status"] == "ok" and rows["onnxruntime"]["best_batch"] in (1, 2)
    assert rows["onnxruntime"]["ms_per_image_b1"] > 0 and rows["torch"]["is_reference"]

    report = tmp_path / "report.md"
    assert main(["report", str(quality_json), str(compare_json), "--markdown", str(report)]) == 0
    text = report.read_text()
    assert quality["command"] in text and compare["command"] in text and "## Comparison" in text


def test_missing_matplotlib_still_writes_the_json(tiny_artifacts, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    code = main(
        [
            "latency",
            "--model",
            str(tiny_artifacts),
            "--backends",
            "onnxruntime",
            "--precisions",
            "fp32",
            *QUICK,
            "--batch-sizes",
            "1",
            "--json",
            str(tmp_path / "l.json"),
            "--plot",
            str(tmp_path / "l.png"),
        ]
    )
    assert code == 1
    assert "drawing plots needs matplotlib: pip install 'msau[bench]'" in capsys.readouterr().err
    assert json.loads((tmp_path / "l.json").read_text())["results"][0]["status"] == "ok"
    assert not (tmp_path / "l.png").exists()


def test_usage_errors_exit_2(tiny_artifacts, tmp_path, capsys):
    assert main(["latency", "--model", str(tmp_path / "none.onnx")]) == 2
    assert "none.onnx: no such model file" in capsys.readouterr().err
    assert main(["quality", "--model", str(tiny_artifacts), "--images", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder of colour photos" in capsys.readouterr().err
    assert main(["latency", "--model", str(tiny_artifacts), "--backends", "tensorrt", *QUICK]) == 2
    assert "nothing could run here" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["quality", "--ratios", "2"])
    assert exit_info.value.code == 2


def test_an_output_that_cannot_be_written_is_refused_before_the_benchmark(tiny_artifacts, tmp_path, capsys, monkeypatch):
    import msau.benchmarks.runner as runner

    def never(*args, **kwargs):
        raise AssertionError("the benchmark ran before its outputs were checked")

    monkeypatch.setattr(runner, "latency_document", never)
    (tmp_path / "folder").mkdir()
    assert main(["latency", "--model", str(tiny_artifacts), "--json", str(tmp_path / "folder"), *QUICK]) == 2
    assert capsys.readouterr().err == f"msau-bench: --json {tmp_path / 'folder'} is a folder, not a file\n"
    (tmp_path / "file").write_text("x")
    assert main(["latency", "--model", str(tiny_artifacts), "--plot", str(tmp_path / "file" / "p.png"), *QUICK]) == 2
    assert capsys.readouterr().err == f"msau-bench: --plot {tmp_path / 'file' / 'p.png'}: cannot write there (Not a directory)\n"


def test_a_corrupt_model_is_a_skip_with_its_reason_not_a_traceback(tmp_path, capsys):
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"\x08\x07garbage" * 100)
    assert main(["latency", "--model", str(model), "--backends", "onnxruntime", "--precisions", "fp32", *QUICK]) == 2
    captured = capsys.readouterr()
    assert f"{model}: cannot load as an ONNX model ([ONNXRuntimeError] : 7 : INVALID_PROTOBUF" in captured.err
    assert "nothing could run here" in captured.err and "Traceback" not in captured.err
