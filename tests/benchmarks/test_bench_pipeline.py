"""msau-bench pipeline: msau-run's batch pipeline against the backend alone, on a tiny model and tiny photos."""

import json
import math

import pytest

from msau.benchmarks.cli import main
from msau.benchmarks.pipeline import (
    BackendFigure,
    HostWork,
    PipelineSettings,
    cores_allow,
    plan_folder,
    pipeline_document,
    pipeline_text,
    run_pipeline_benchmark,
    write_folder,
)

IMAGES = 4
TINY = dict(images=IMAGES, batch_sizes=(1, 3), photo_size=48, budget_s=0.01, min_runs=2)


@pytest.fixture
def colorizer(tiny_artifacts):
    from msau.runtime.colorizer import Colorizer

    with Colorizer(model=tiny_artifacts, backend="onnxruntime", size=32, threads=1) as opened:
        yield opened


def test_every_photo_is_colorized_and_the_figures_are_real(colorizer, tmp_path):
    import cv2

    settings = PipelineSettings(**TINY)
    lines = []
    outcome = run_pipeline_benchmark(colorizer, settings, work_dir=tmp_path, progress=lines.append)

    photos = sorted((tmp_path / "photos").iterdir())
    assert [p.suffix for p in photos] == [".jpg"] * IMAGES
    for photo in photos:
        gray = cv2.imread(str(photo), cv2.IMREAD_UNCHANGED)
        assert gray.shape == (48, 48)  # written as grayscale
        hints = json.loads((tmp_path / "hints" / f"{photo.stem}.json").read_text())["hints"]
        assert len(hints) == round(0.005 * 48 * 48) and set(hints[0]) == {"x", "y", "rgb"}

    assert [row.batch for row in outcome.rows] == [1, 3]
    assert [row.final_batch for row in outcome.rows] == [1, 1]  # 4 photos in batches of 3: 3, then 1
    for row in outcome.rows:
        assert row.backend.status == "ok" and row.backend.runs >= 2
        assert row.pipeline.status == "ok" and row.pipeline.failures == []
        assert (row.pipeline.images, row.pipeline.done, row.pipeline.failed) == (IMAGES, IMAGES, 0)
        assert row.pipeline.outputs_written == IMAGES
        outputs = sorted((tmp_path / "out" / f"b{row.batch}").iterdir())
        assert [p.name for p in outputs] == [f"{p.stem}.png" for p in photos]
        for output in outputs:
            image = cv2.imread(str(output), cv2.IMREAD_UNCHANGED)
            assert image is not None and image.shape == (48, 48, 3)
        for value in (row.backend.images_per_s, row.pipeline.images_per_s, row.ratio):
            assert value is not None and math.isfinite(value) and value > 0
    assert outcome.ok
    assert outcome.best in outcome.rows
    host = outcome.host_work
    assert host.status == "ok" and host.photos == IMAGES - 1  # the first photo is not timed
    assert 0 < host.load_ms < 5000 and 0 < host.finish_ms < 5000
    assert sorted(p.name for p in (tmp_path / "out" / "host").iterdir()) == [f"{p.stem}.png" for p in photos]
    assert outcome.cores >= 1
    for row in outcome.rows:
        assert row.backend.cpu_ms_per_image > 0
        assert 0 < row.cores_allow <= 1 and row.of_allowed == pytest.approx(row.ratio / row.cores_allow)
    assert any("batch 3: pipeline 4 of 4 photos" in line for line in lines)

    document = json.loads(json.dumps(pipeline_document(outcome, "msau-bench pipeline (test)")))
    assert document["kind"] == "pipeline" and document["command"] == "msau-bench pipeline (test)"
    assert document["host"]["cpu"]["model"] and isinstance(document["host"]["cpu"]["features"], list)
    assert document["colorizer"]["backend"] == "onnxruntime" and document["colorizer"]["size"] == 32
    assert document["settings"]["images"] == IMAGES and document["settings"]["batch_sizes"] == [1, 3]
    for row in document["results"]:
        assert {"batch", "final_batch", "backend", "pipeline", "ratio", "cores_allow", "of_allowed"} <= set(row)
        assert row["backend"]["images_per_s"] > 0 and row["pipeline"]["images_per_s"] > 0
        assert {"p50", "p90", "mean"} <= set(row["backend"]["latency_ms"])
    best = document["best"]
    assert best["batch"] in (1, 3) and best["target"] == 0.9 and isinstance(best["meets_target"], bool)
    by_batch = {row["batch"]: row for row in document["results"]}
    assert best["ratio"] == pytest.approx(by_batch[best["batch"]]["ratio"])
    assert best["backend_images_per_s"] == max(row["backend"]["images_per_s"] for row in document["results"])

    assert document["host_work"]["total_ms"] == pytest.approx(host.load_ms + host.finish_ms)
    assert best["cores_allow"] == by_batch[best["batch"]]["cores_allow"]

    text = pipeline_text(document)
    assert "backend's best batch size" in text and "3 (last 1)" in text and "CPU:" in text
    assert f"cores allow about {best['cores_allow'] * 100:.0f} %" in text


@pytest.mark.parametrize(
    ("images_per_s", "backend_cpu_ms", "host_ms", "cores", "expected"),
    [
        (50.0, 40.0, 30.0, 2, 2 / (0.070 * 50)),  # a CPU backend on 2 cores: 57 % at most
        (50.0, 40.0, 0.0, 2, 1.0),  # no host work: the backend's own rate
        (1000.0, 0.5, 10.0, 16, 1.0),  # a GPU beside 16 cores: the host keeps up (1.52x, capped)
        (1000.0, 0.5, 10.0, 4, 4 / 10.5),  # the same GPU beside 4 cores: the host work limits
    ],
)
def test_what_the_cores_allow(images_per_s, backend_cpu_ms, host_ms, cores, expected):
    backend = BackendFigure(images_per_s=images_per_s, cpu_ms_per_image=backend_cpu_ms)
    host = HostWork(photos=3, load_ms=host_ms / 2, finish_ms=host_ms / 2)
    assert cores_allow(backend, host, cores) == pytest.approx(expected)


def test_what_the_cores_allow_needs_both_figures():
    host = HostWork(photos=3, load_ms=5.0, finish_ms=5.0)
    assert cores_allow(BackendFigure(status="failed", reason="x"), host, 2) is None
    assert cores_allow(BackendFigure(images_per_s=10.0, cpu_ms_per_image=100.0), HostWork(status="failed"), 2) is None


def test_the_jobs_are_those_msau_run_makes(tmp_path):
    """Same sources, hint files and outputs as msau-run's own planning of `msau-run PHOTOS --hints HINTS -o OUT`."""
    from msau.runtime.cli import _plan, build_parser
    from msau.runtime.inputs import discover

    folder = write_folder(tmp_path, PipelineSettings(images=3, batch_sizes=(1,), photo_size=32, input_format="png"))
    out = tmp_path / "out"
    args = build_parser().parse_args([str(folder.photos), "--hints", str(folder.hints), "-o", str(out)])
    expected = _plan(discover(args.inputs, args.recursive, exclude=args.out)[0], args)
    jobs, known = plan_folder(folder, out)
    assert (jobs, known) == expected
    assert [job.hints.name for job in jobs] == ["photo_000.json", "photo_001.json", "photo_002.json"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--images", "0"], "must be at least 1, got 0"),
        (["--images", "2", "--batch-sizes", "1", "4"], "batch size 4 is larger than the 2 photos"),
        (["--batch-sizes", "0"], "batch sizes must be positive integers, got 0"),
        (["--workers", "0"], "must be at least 1, got 0"),
        (["--budget", "0"], "the budget must be a positive number of seconds"),
    ],
)
def test_bad_values_exit_2_with_one_line(options, message, capsys):
    assert main(["pipeline", *options]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("msau-bench: ") and message in captured.err


def test_threads_below_one_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pipeline", "--threads", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "msau-bench pipeline: error: argument --threads: must be at least 1, got 0"
    )


def test_a_missing_model_exits_2_with_one_line(tmp_path, capsys):
    assert main(["pipeline", "--images", "2", "--batch-sizes", "1", "--model", str(tmp_path / "none.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.onnx: no such model file" in err and "Traceback" not in err


def test_help_explains(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pipeline", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage: msau-bench pipeline" in out and "backend's own images/s" in out and "--batch-sizes" in out


def test_the_cli_end_to_end(tiny_artifacts, tmp_path, capsys):
    target = tmp_path / "p.json"
    args = ["pipeline", "--model", str(tiny_artifacts), "--backend", "onnxruntime", "--size", "32", "--threads", "1",
            "--images", "2", "--photo-size", "32", "--batch-sizes", "1", "2", "--budget", "0.01", "--json", str(target)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "pipeline/backend" in captured.out and "backend's best batch size" in captured.out
    assert "cores allow" in captured.out and "host work per photo (CPU time)" in captured.out
    assert "Traceback" not in captured.err
    document = json.loads(target.read_text())
    assert document["command"] == "msau-bench " + " ".join(args)
    assert [row["pipeline"]["done"] for row in document["results"]] == [2, 2]
