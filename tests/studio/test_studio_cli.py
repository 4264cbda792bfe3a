"""msau-studio's command line: usage and setup errors (exit 2, one line), the warning for another host, Ctrl+C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("uvicorn")

from studio_page import free_port  # noqa: E402

from msau.studio.cli import main  # noqa: E402


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    assert cv2.imwrite(str(path), np.full((30, 40), 120, np.uint8))
    return path


def error_of(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "--no-browser" in capsys.readouterr().out


def test_usage_and_setup_errors(capsys, photo, tmp_path):
    assert error_of(capsys, ["--hints", "h.json"]) == "msau-studio: error: --hints needs a PHOTO to go with"
    assert error_of(capsys, [str(tmp_path / "none.png")]) == f"msau-studio: error: {tmp_path / 'none.png'}: no such file"
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"hints": [{"x": 99, "y": 1, "rgb": [1, 2, 3]}]}))
    assert error_of(capsys, [str(photo), "--hints", str(outside)]).startswith(
        f"msau-studio: error: {outside}: hint 0 at (x=99, y=1) lies outside the 40x30 image"
    )
    over = error_of(capsys, [str(photo), "--max-pixels", "100"])
    assert over.startswith(f"msau-studio: error: {photo}: 40x30 pixels") and "over the limit" in over, over
    assert error_of(capsys, ["--model", str(tmp_path / "m.onnx")]) == f"msau-studio: error: {tmp_path / 'm.onnx'}: no such model file"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--port", "70000"], "argument --port: must be in 0..65535 (0: a free one), got 70000"),
        (["--max-upload-mb", "0"], "argument --max-upload-mb: must be more than 0, got 0"),
        (["--backend", "cuda"], "argument --backend: invalid choice: 'cuda'"),
    ],
)
def test_bad_options_are_usage_errors(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"msau-studio: error: {message}") and "Traceback" not in err


def test_without_the_studio_extra_help_works_and_running_names_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if pip install 'msau[studio]' had not been run
    monkeypatch.delitem(sys.modules, "msau.studio.server", raising=False)  # imported by an earlier test
    assert main(["--help"]) == 0
    capsys.readouterr()
    assert error_of(capsys, ["--no-browser"]) == (
        "msau-studio: error: uvicorn is missing; install the studio with pip install 'msau[studio]'"
    )


def test_a_port_in_use_is_a_setup_error(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        err = error_of(capsys, ["--no-browser", "--backend", "onnxruntime", "--port", str(port)])
    assert err.startswith(f"msau-studio: error: cannot listen on 127.0.0.1:{port} (")


def test_another_host_warns_answers_once_announced_and_ctrl_c_stops_cleanly():
    command = [sys.executable, "-m", "msau.studio.cli", "--no-browser", "--backend", "onnxruntime",
               "--host", "127.0.0.2", "--port", str(free_port())]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("msau-studio: open http://127.0.0.2:"), line
        url = line.split()[2]
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # whatever *_proxy the shell has
        with direct.open(url, timeout=10) as page:  # announced only once it answers
            assert page.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "msau-studio: warning: listening on 127.0.0.2: anyone who can reach this machine" in err
    assert "Traceback" not in err
