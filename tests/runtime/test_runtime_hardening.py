"""Hostile and careless inputs (issue 14): each ends in one line naming the file, the documented exit code, the
other files of a batch written, no partial or stray file, and bounded memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from msau.runtime.atomic import remove_leftovers
from msau.runtime.backends.base import BackendError, open_backend
from msau.runtime.cli import main
from msau.runtime.colorizer import Colorizer
from msau.runtime.hints import HintError
from msau.runtime.image_io import ImageError, check_pixels, read_image, write_image
from msau.runtime.inputs import discover
from msau.runtime.limits import DEFAULT_MAX_PIXELS
from msau.runtime.models import shipped_model

SIZE = 32
MODEL = shipped_model(".onnx")


def run(*args: object, model: Path = MODEL) -> int:
    base = ["--model", str(model), "--backend", "onnxruntime", "--threads", "1", "--size", str(SIZE), "-q"]
    return main([*map(str, args), *base])


def photo(path: Path, height: int = 24, width: int = 40, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    assert cv2.imwrite(str(path), (rng.random((height, width, 3)) * 255).astype(np.uint8))
    return path


def stray_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


# 1. Decompression bombs ------------------------------------------------------------------------------------------


def test_a_png_bomb_fails_alone_with_its_size_and_the_limit(tmp_path, png_bomb, capsys) -> None:
    photo(tmp_path / "in" / "ok.png")
    bomb = png_bomb(tmp_path / "in" / "bomb.png", 30000, 30000)
    assert run(tmp_path / "in", "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert f"{bomb}: 30000x30000 pixels (900 MP) is over the limit of 200,000,000 pixels per image;" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok.png"]


def test_reading_a_bomb_allocates_nothing(tmp_path, png_bomb, peak_memory, baseline_memory) -> None:
    bomb = png_bomb(tmp_path / "bomb.png", 30000, 30000)
    code = (
        "from msau.runtime.image_io import ImageError, read_image\n"
        f"try:\n    read_image({str(bomb)!r})\nexcept ImageError:\n    pass\nelse:\n    raise SystemExit('read')"
    )
    assert peak_memory(code) < baseline_memory + 50  # decoding would take 2.7 GB before the pipeline's 24 GB


def test_check_pixels_reads_only_the_header(tmp_path, png_bomb) -> None:
    bomb = png_bomb(tmp_path / "bomb.png", 30000, 30000)
    assert check_pixels(bomb, 900_000_000).pixels == 900_000_000
    with pytest.raises(ImageError, match=rf"^{bomb}: 30000x30000 pixels \(900 MP\) is over the limit of 899,999,999 pixels per image;"):
        check_pixels(bomb, 899_999_999)
    assert check_pixels(photo(tmp_path / "ok.jpg"), 960).width == 40
    with pytest.raises(ImageError, match=r"no such file"):
        check_pixels(tmp_path / "missing.png")


def test_max_pixels_is_an_option_of_the_cli_and_the_api(tmp_path, capsys) -> None:
    source = photo(tmp_path / "in" / "p.png", 24, 40)
    assert run(source, "-o", tmp_path / "out", "--max-pixels", "959") == 1
    assert "over the limit of 959 pixels per image" in capsys.readouterr().err
    assert run(source, "-o", tmp_path / "out", "--max-pixels", "960") == 0
    assert run(source, "-o", tmp_path / "out", "--max-pixels", "0") == 2
    assert "max_pixels must be a positive integer, got 0" in capsys.readouterr().err
    with Colorizer(MODEL, "onnxruntime", size=SIZE, max_pixels=100) as colorizer:
        with pytest.raises(ValueError, match=r"^a 40x24 image is over the limit of 100 pixels;"):
            colorizer(read_image(source))
    assert DEFAULT_MAX_PIXELS == 200_000_000


# 2. Hint files that would cost gigabytes --------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [300, 1_000_000_000])
def test_two_thousand_wide_hints_cost_kilobytes(radius: int, peak_memory, baseline_memory) -> None:
    code = (
        "import numpy as np\nfrom msau.runtime.hints import Hints, rasterize\n"
        f"h = Hints(np.random.default_rng(0).uniform(0, 999, (2000, 2)).astype(np.float32), "
        f"np.full((2000, 3), 90, np.uint8), np.full(2000, {radius}, np.int32))\n"
        "assert rasterize(h, (1000, 1000), (256, 256))[2].all()"
    )
    assert peak_memory(code) < baseline_memory + 50  # was 5.75 GB (radius 300) and 8.3 GB (radius 1e9)


# 3. Models that cannot be loaded or do not follow the contract ----------------------------------------------------


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    good = MODEL.read_bytes()
    (folder / "garbage.onnx").write_bytes(b"\x08\x07garbage" * 100)
    (folder / "truncated.onnx").write_bytes(good[: len(good) // 3])
    (folder / "pickle.pt").write_bytes(b"\x80\x02}q\x00.")
    (folder / "empty.onnx").write_bytes(b"")
    return {path.stem: path for path in folder.iterdir()}


@pytest.mark.parametrize("name", ["garbage", "truncated", "pickle", "empty"])
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "auto"])
def test_a_model_that_cannot_be_loaded_is_a_usage_error(tmp_path, bad_models, name, backend, capsys) -> None:
    source = photo(tmp_path / "p.png")
    model = bad_models[name]
    assert main([str(source), "-o", str(tmp_path / "out"), "--model", str(model), "--backend", backend, "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"msau-run: error: {model}: ") and err.count("\n") == 1, err
    with pytest.raises(BackendError, match=rf"^{model}: "):
        Colorizer(model, backend)


def _onnx_model(path: Path, input_name: str, channels: int, output_name: str, poison: float = 1.0) -> Path:
    """A one-node ONNX graph: output = the first two input channels times poison (NaN makes every output NaN)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Slice", [input_name, "starts", "ends", "axes"], ["two"]),
            helper.make_node("Mul", ["two", "poison"], [output_name]),
        ],
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 2, "H", "W"])],
        [
            helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
            helper.make_tensor("ends", TensorProto.INT64, [1], [2]),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
            helper.make_tensor("poison", TensorProto.FLOAT, [], [poison]),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize(
    "input_name, channels, output_name, wrong",
    [("x", 4, "ab", "inputs x (?, 4, ?, ?)"), ("input", 3, "ab", "inputs input (?, 3, ?, ?)"),
     ("input", 4, "y", "outputs y (?, 2, ?, ?)")],
)
def test_a_model_off_the_contract_is_refused_once_at_load(tmp_path, backend, input_name, channels, output_name, wrong) -> None:
    model = _onnx_model(tmp_path / "other.onnx", input_name, channels, output_name)
    with pytest.raises(BackendError) as raised:
        open_backend(backend, model)
    assert str(raised.value) == (
        f"{model}: not an MSAU-Net model: {wrong}; "
        "expected input 'input' (N, 4, H, W) and output 'ab' (N, 2, H, W), msau contract v1"
    )


def test_a_nan_output_fails_each_image_and_writes_nothing(tmp_path, capsys) -> None:
    model = _onnx_model(tmp_path / "nan.onnx", "input", 4, "ab", poison=float("nan"))
    photo(tmp_path / "in" / "a.png")
    photo(tmp_path / "in" / "b.png", seed=1)
    assert run(tmp_path / "in", "-o", tmp_path / "out", model=model) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'in' / 'a.png'}: the network's output has {2 * SIZE * SIZE} NaN or infinite values" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# 4. NaN coordinates ------------------------------------------------------------------------------------------------


def test_nan_coordinates_fail_the_image_in_the_cli_and_the_api(tmp_path, capsys) -> None:
    source = photo(tmp_path / "p.png")
    hints = tmp_path / "p.json"
    hints.write_text('{"hints": [{"x": NaN, "y": NaN, "rgb": [200, 0, 0]}]}')
    assert run(source, "-o", tmp_path / "out", "--hints", hints) == 1
    assert f"{hints}: hint 0: x must be a finite number, got nan" in capsys.readouterr().err
    with Colorizer(MODEL, "onnxruntime", size=SIZE) as colorizer:
        with pytest.raises(HintError, match="x must be a finite number, got nan"):
            colorizer(read_image(source), {"hints": [{"x": float("nan"), "y": 1, "rgb": [1, 2, 3]}]})


# 6. Signals and temporaries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_remove_the_temporary_like_ctrl_c(tmp_path, name) -> None:
    # In a fresh process: the signal is sent to the whole process, and this one holds other tests' libraries.
    code = f"""
import os, signal, time
from msau.runtime.atomic import atomic_path
from msau.runtime.interrupt import Terminated, terminate_as_interrupt
before = signal.getsignal(signal.{name})  # SIG_IGN for SIGHUP under nohup, SIG_DFL otherwise
try:
    with terminate_as_interrupt(), atomic_path({str(tmp_path / "out.png")!r}) as tmp:
        tmp.write_bytes(b"half")
        os.kill(os.getpid(), signal.{name})
        time.sleep(30)  # the handler raises at once
except Terminated as stop:
    print(stop.signal_number, signal.getsignal(signal.{name}) == before)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [str(int(getattr(signal, name))), "True"], done.stderr  # handler put back
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary


def test_msau_run_ends_cleanly_on_sigterm(tmp_path) -> None:
    for i in range(60):
        photo(tmp_path / "in" / f"p{i:02d}.png", 64, 64, seed=i)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "msau.runtime.cli", str(tmp_path / "in"), "-o", str(out), "--model", str(MODEL),
               "--backend", "onnxruntime", "--size", str(SIZE), "--batch-size", "1", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.iterdir())) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (143, 0), err  # 0 only if it finished first
    assert "Traceback" not in err
    if process.returncode == 143:
        assert "msau-run: interrupted (SIGTERM)" in err
    assert stray_files(out) == []
    for written in out.iterdir():
        assert read_image(written).shape == (64, 64, 3)  # complete files only


def test_a_later_run_removes_its_stale_temporaries_but_not_a_live_writers(tmp_path) -> None:
    source = photo(tmp_path / "in" / "p.png")
    out = tmp_path / "out"
    out.mkdir()
    dead = out / ".p.png.4194303-x1y2z3.tmp"  # above any pid this machine gives out
    older = out / ".p.png.k9k9k9.tmp"  # an msau before writers were named
    live = out / f".p.png.{os.getpid()}-a1b2c3.tmp"
    other = out / ".notes.txt.4194303-x1y2z3.tmp"  # not a temporary of this run's outputs
    for path in (dead, older, live, other):
        path.write_bytes(b"half")
    assert run(source, "-o", out) == 0
    assert stray_files(out) == sorted([live.name, other.name])
    assert remove_leftovers([out / "p.png"]) == 1  # without dead_writers_only: everything beside the target


def test_outputs_follow_the_umask(tmp_path) -> None:
    previous = os.umask(0o027)
    try:
        path = write_image(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640


# 7. Globs over symlink cycles -----------------------------------------------------------------------------------------


def test_a_recursive_glob_over_symlink_cycles_terminates(tmp_path) -> None:
    tree = tmp_path / "tree"
    photo(tree / "a" / "b" / "deep.png")
    photo(tree / "top.png")
    (tree / "a" / "b" / "up").symlink_to("..")
    (tree / "a" / "loop").symlink_to("../..")
    code = (
        "from msau.runtime.inputs import discover\n"
        f"inputs, _ = discover([{str(tree) + '/**/*.png'!r}])\nprint(sorted(str(i.path) for i in inputs))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted([str(tree / "a" / "b" / "deep.png"), str(tree / "top.png")]))
    inputs, unmatched = discover([str(tree / "**" / "*.png")])
    assert len(inputs) == 2 and unmatched == []


# 8 and 9. Bad option values and weaker points -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, message",
    [
        (["--jpeg-quality", "1000"], "argument --jpeg-quality: JPEG quality must be an integer in 0..100, got 1000"),
        (["--jpeg-quality", "-5"], "argument --jpeg-quality: JPEG quality must be an integer in 0..100, got -5"),
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--max-pixels", "lots"], "argument --max-pixels: invalid"),
    ],
)
def test_bad_option_values_are_usage_errors(tmp_path, option, message, capsys) -> None:
    assert run(photo(tmp_path / "p.png"), "-o", tmp_path / "out", *option) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_output_folder_is_checked_before_any_work(tmp_path, monkeypatch, capsys) -> None:
    folder = photo(tmp_path / "in" / "p.png").parent
    assert run(folder, "-o", folder) == 2
    assert f"-o {folder} is an input folder" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert run(folder, "-o", tmp_path / "file") == 2
    assert "is a file, not a folder" in capsys.readouterr().err

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("msau.runtime.atomic.tempfile.TemporaryFile", read_only)
    assert run(folder, "-o", tmp_path / "ro") == 2
    assert capsys.readouterr().err == f"msau-run: error: -o {tmp_path / 'ro'}: cannot write there (Permission denied)\n"


def test_api_option_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^unknown option 'treads'; the backends take .*threads"):
        Colorizer(MODEL, "onnxruntime", treads=2)
    with pytest.raises(BackendError, match=r"^the onnxruntime backend has no option 'streams'; it takes cache_dir, threads$"):
        Colorizer(MODEL, "onnxruntime", streams=2)
    with Colorizer(MODEL, "onnxruntime", size=SIZE) as colorizer:
        gray = np.zeros((8, 8), np.uint8)
        with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0$"):
            colorizer.batch([gray], batch_size=0)
        with pytest.raises(ValueError, match=r"float pixels must be in 0..1, found values up to 255"):
            colorizer(np.full((8, 8), 255.0, np.float32))
        assert colorizer(np.full((8, 8), 0.5, np.float32)).shape == (8, 8, 3)


def test_auto_with_a_gpu_device_and_no_gpu_says_so(monkeypatch) -> None:
    from msau.runtime.backends import auto

    for probe in ("tensorrt_available", "onnxruntime_cuda_available", "torch_cuda_available"):
        monkeypatch.setattr(auto, probe, lambda: False)
    with pytest.raises(BackendError, match=r"^device 'cuda' was asked for, but no backend here runs on it"):
        Colorizer(MODEL, device="cuda")


def test_gifs_are_scanned_and_animated_ones_refused(tmp_path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    frame = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    ok, still = cv2.imencode(".gif", frame)
    (folder / "still.gif").write_bytes(still.tobytes())
    ok, animated = cv2.imencodemulti(".gif", [frame, frame[::-1].copy()])
    (folder / "moving.gif").write_bytes(animated.tobytes())
    assert run(folder, "-o", tmp_path / "out") == 1
    assert f"{folder / 'moving.gif'}: an animated GIF (2+ frames); colorize a still image" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["still.png"]


def test_header_sizes_of_every_format_opencv_writes(tmp_path) -> None:
    from msau.runtime.image_header import read_header

    image = (np.random.default_rng(0).random((37, 53, 3)) * 255).astype(np.uint8)
    for suffix in (".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm", ".jp2", ".gif"):
        ok, data = cv2.imencode(suffix, image)
        header = read_header(data.tobytes())
        assert (header.width, header.height) == (53, 37), suffix
    assert read_header(b"not an image") is None
    assert read_header(b"\x89PNG\r\n\x1a\n\x00\x00") is None  # cut short: decoding says it is broken


def test_no_traceback_for_missing_inputs(tmp_path, capsys) -> None:
    assert run(tmp_path / "nothing.png", "-o", tmp_path / "out") == 2
    assert capsys.readouterr().err.startswith("msau-run: error: no such file, folder or matching glob")


def test_library_error_lines_stay_off_the_terminal(tmp_path) -> None:
    image = (np.random.default_rng(0).random((37, 53, 3)) * 255).astype(np.uint8)
    data = bytearray(cv2.imencode(".png", image)[1].tobytes())
    data[60] ^= 0xFF  # IDAT no longer matches its checksum: libpng prints "libpng error: IDAT: ..." itself
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "crc.png").write_bytes(bytes(data))
    photo(tmp_path / "in" / "ok.png")
    command = [sys.executable, "-m", "msau.runtime.cli", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
               "--model", str(MODEL), "--backend", "onnxruntime", "--size", str(SIZE)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"{tmp_path / 'in' / 'crc.png'}: not a readable image (corrupt, truncated or an unsupported format)" in done.stderr
    assert "libpng" not in done.stderr and "WARN" not in done.stderr
    assert "100%" in done.stderr  # the progress bar still comes through


def test_the_stderr_filter_drops_library_lines_and_keeps_the_rest(tmp_path) -> None:
    code = (
        "import os, sys\nfrom msau.runtime.stderr_filter import quiet_library_lines\n"
        "with quiet_library_lines():\n"
        "    for piece in (b'keep 1\\nlibpng err', b'or: x\\n\\r 50%', b'\\r100%\\nlibpng warning: y\\nlibpn', b'g-like\\n',\n"
        "                  b'\\r 1/2 |##libpng error: IDAT: CRC error\\n', b'\\r 2/2 |###\\n'):\n"
        "        os.write(2, piece)\n"
        "print('after', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    # A library line is cut out wherever it starts, even after a progress bar drawn without a newline.
    assert done.stderr == b"keep 1\n\r 50%\r100%\nlibpng-like\n\r 1/2 |##\r 2/2 |###\nafter\n"
