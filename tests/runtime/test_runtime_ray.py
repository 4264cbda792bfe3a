"""msau-run --ray on a local Ray (2 CPUs): same outputs, failures, summary and exit codes as local mode;
--skip-existing resumes; an actor killed mid-job costs nothing; no stray files; a missing ray says the extra.

One Ray instance serves the whole module (starting one takes seconds); each job starts its own actors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

# The bad-input folder and the tiny model of the local-mode tests: the same job in both modes.
from test_runtime_cli import GOOD, model, photos, run  # noqa: F401  (pytest fixtures)

from msau.runtime.atomic import atomic_path, remove_leftovers
from msau.runtime.cli import main
from msau.runtime.image_io import read_image

ray = pytest.importorskip("ray", reason="the [test] extra installs ray[data]")
WORKERS = "2"


@pytest.fixture(scope="module")
def local_ray():
    from msau.runtime.ray_job import connect

    started = connect(num_cpus=2)
    yield
    if started:
        ray.shutdown()


def listing(folder: Path) -> list[str]:
    """Every file under folder, hidden ones (temporaries) included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def assert_same_pixels(left: Path, right: Path, same_colours: Callable[..., None]) -> None:
    assert listing(left) == listing(right)
    for name in listing(left):
        same_colours(read_image(left / name), read_image(right / name), name)


def test_the_issue_check_bad_files_and_pixels_equal_to_local_mode(model, photos, tmp_path, capsys, local_ray, same_colours):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert run(model, photos, "-o", local, "--batch-size", "3") == 1
    local_err = capsys.readouterr().err
    assert run(model, photos, "-o", on_ray, "--batch-size", "3", "--ray", "--workers", WORKERS) == 1
    captured = capsys.readouterr()
    assert listing(on_ray) == sorted(f"{stem}.png" for stem in GOOD)  # no temporaries, nothing for the bad files
    assert_same_pixels(on_ray, local, same_colours)
    for bad in (f"{photos / 'corrupt.jpg'}: not a readable image", f"{photos / 'empty.png'}: empty file (0 bytes)"):
        assert bad in captured.err and bad in local_err
    assert "done 4, failed 2, skipped 0" in captured.out
    assert "msau-run: Ray Data on a local Ray; 6 to colorize" in captured.err
    assert "msau-run: 2 Ray worker(s) on a cluster of 2 CPU(s)" in captured.err


def test_hints_side_by_side_and_skip_existing(model, photos, tmp_path, capsys, local_ray, same_colours):
    (photos / "corrupt.jpg").unlink()
    (photos / "empty.png").unlink()
    hints = tmp_path / "hints"
    hints.mkdir()
    (hints / "gray.json").write_text(json.dumps({"hints": [{"x": 10, "y": 5, "rgb": [255, 0, 0]}]}))
    (hints / "deep.json").write_text("{not json")
    options = ("--hints", hints, "--side-by-side", "--workers", WORKERS)
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert run(model, photos, "-o", local, *options) == 1
    local_err = capsys.readouterr().err
    assert run(model, photos, "-o", on_ray, *options, "--ray") == 1
    captured = capsys.readouterr()
    assert_same_pixels(on_ray, local, same_colours)
    broken = f"{photos / 'deep.png'}: {hints / 'deep.json'}: not valid JSON"
    assert broken in local_err and broken in captured.err
    assert "done 3, failed 1, skipped 0" in captured.out

    marker = on_ray / "gray.png"
    marker.write_bytes(b"left alone")
    (on_ray / "colour.png").unlink()  # as if the first run had been stopped before it
    assert run(model, photos, "-o", on_ray, *options, "--ray", "--skip-existing") == 1  # deep.json is still broken
    assert "done 1, failed 1, skipped 2" in capsys.readouterr().out  # colour and deep again; gray, alpha skipped
    assert marker.read_bytes() == b"left alone"
    np.testing.assert_array_equal(read_image(on_ray / "colour.png"), read_image(local / "colour.png"))


def test_all_skipped_starts_no_ray_job(model, photos, tmp_path, capsys):
    out = tmp_path / "out"
    for stem in GOOD:
        out.mkdir(exist_ok=True)
        (out / f"{stem}.png").write_bytes(b"done before")
    (photos / "corrupt.jpg").unlink()
    (photos / "empty.png").unlink()
    assert run(model, photos, "-o", out, "--ray", "--skip-existing") == 0
    assert "done 0, failed 0, skipped 4" in capsys.readouterr().out


def dies_once_mid_write(flag: Path):
    """An opener whose process SIGKILLs itself in its second image write, once in the whole job (the flag file
    says it happened), after it left a half-written temporary file beside that output."""

    def opener(colorizer_options):
        import os
        import signal

        import msau.runtime.batch as batch
        from msau.runtime.atomic import atomic_path
        from msau.runtime.ray_job import open_colorizer

        write = batch.write_image
        writes = []

        def write_or_die(path, *args, **kwargs):
            writes.append(path)
            if len(writes) == 2:
                try:
                    os.close(os.open(flag, os.O_CREAT | os.O_EXCL))  # only the first actor to get here dies
                except FileExistsError:
                    pass
                else:
                    with atomic_path(path) as tmp:
                        tmp.write_bytes(b"half an image")
                        os.kill(os.getpid(), signal.SIGKILL)
            return write(path, *args, **kwargs)

        batch.write_image = write_or_die  # this actor process only
        return open_colorizer(colorizer_options)

    return opener


def test_an_actor_killed_mid_job_is_replaced_and_every_output_done(model, photos, tmp_path, capsys, local_ray, same_colours):
    from msau.runtime.inputs import discover, plan_jobs
    from msau.runtime.ray_job import RaySettings, run_on_ray

    local = tmp_path / "local"
    assert run(model, photos, "-o", local) == 1
    inputs, _ = discover([str(photos)])
    jobs, known = plan_jobs(inputs, tmp_path / "ray")
    assert not known
    options = {"model": model, "backend": "onnxruntime", "size": 32}
    flag = tmp_path / "killed"
    summary = run_on_ray(jobs, options, RaySettings(workers=2, batch_size=2), opener=dies_once_mid_write(flag))
    assert flag.exists()  # an actor did die, with a temporary file open
    assert (summary.done, summary.failed, summary.skipped) == (4, 2, 0)
    assert sorted(str(r.job.source.name) for r in summary.failures) == ["corrupt.jpg", "empty.png"]
    assert_same_pixels(tmp_path / "ray", local, same_colours)  # its half-written temporary is gone too


def dies_on(name: str):
    """An opener whose process SIGKILLs itself whenever it is about to write the output called name."""

    def opener(colorizer_options):
        import os
        import signal

        import msau.runtime.batch as batch
        from msau.runtime.ray_job import open_colorizer

        write = batch.write_image

        def write_or_die(path, *args, **kwargs):
            if os.path.basename(path) == name:
                os.kill(os.getpid(), signal.SIGKILL)
            return write(path, *args, **kwargs)

        batch.write_image = write_or_die
        return open_colorizer(colorizer_options)

    return opener


def test_a_photo_that_kills_every_worker_fails_alone(model, photos, tmp_path, local_ray):
    from msau.runtime.inputs import discover, plan_jobs
    from msau.runtime.ray_job import TASK_TRIES, RaySettings, run_on_ray

    (photos / "corrupt.jpg").unlink()
    (photos / "empty.png").unlink()
    inputs, _ = discover([str(photos)])
    jobs, _ = plan_jobs(inputs, tmp_path / "ray")
    options = {"model": model, "backend": "onnxruntime", "size": 32}
    summary = run_on_ray(jobs, options, RaySettings(workers=2, batch_size=1), opener=dies_on("deep.png"))
    assert (summary.done, summary.failed) == (3, 1)
    assert summary.failures[0].message == (
        f"{photos / 'deep.png'}: not colorized: the Ray worker holding it died {TASK_TRIES} times (out of memory?)"
    )
    assert listing(tmp_path / "ray") == ["alpha.png", "colour.png", "gray.png"]


def test_missing_ray_names_the_extra(model, photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert run(model, photos, "-o", tmp_path / "out", "--ray") == 2
    assert capsys.readouterr().err == "msau-run: error: --ray needs Ray Data (ray[data]): pip install 'msau[ray]'\n"
    assert not (tmp_path / "out").exists()


def test_ray_options_need_ray_and_a_model(model, photos, tmp_path, capsys):
    assert run(model, photos, "-o", tmp_path / "out", "--ray-address", "auto") == 2
    assert "--ray-address and --gpus-per-worker go with --ray" in capsys.readouterr().err
    assert main([str(photos), "-o", str(tmp_path / "out"), "--ray", "--model", str(tmp_path / "none.onnx")]) == 2
    assert capsys.readouterr().err == f"msau-run: error: {tmp_path / 'none.onnx'}: no such model file\n"
    assert main([str(photos), "-o", str(tmp_path / "out"), "--ray", "--gpus-per-worker", "-1"]) == 2
    assert "must be 0 or more, got -1" in capsys.readouterr().err


def test_remove_leftovers_takes_only_temporaries_of_the_targets(tmp_path):
    target, other = tmp_path / "a.png", tmp_path / "b.png"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"x")
        raise KeyboardInterrupt
    assert listing(tmp_path) == []  # an interrupt in this process removes its own temporary
    leftovers = [tmp_path / ".a.png.k3j_x9.tmp", tmp_path / ".b.png.abc123.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    (tmp_path / ".a.png.notes").write_bytes(b"not ours")
    assert remove_leftovers([target, tmp_path / "missing" / "c.png"]) == 1
    assert listing(tmp_path) == [".a.png.notes", ".b.png.abc123.tmp"]
    assert remove_leftovers([other]) == 1 and not other.exists()


def test_an_address_where_nothing_answers_fails_at_once():
    import socket

    from msau.runtime.ray_job import RayJobError, check_reachable

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(RayJobError, match=rf"cannot join Ray at {address}: nothing answers at 127.0.0.1:{port}"):
            check_reachable(address, timeout_s=2)
    check_reachable("auto")  # Ray's to find


def test_sigterm_stops_the_job_cleanly(model, photos, tmp_path):
    """Ray's driver installs a SIGTERM handler of its own (exit 15 after a stack dump); msau-run's must win."""
    import signal
    import subprocess

    out = tmp_path / "out"
    command = [sys.executable, "-m", "msau.runtime.cli", str(photos), "-o", str(out), "--ray", "--workers", WORKERS,
               "--model", str(model), "--backend", "onnxruntime", "--size", "32", "-q"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in process.stderr:  # the job runs once Ray is up and the workers are being started
        if "Ray worker(s)" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert "msau-run: interrupted (SIGTERM)" in rest and "SIGTERM received" not in rest
    assert not out.exists() or not [name for name in listing(out) if name.startswith(".")]
