"""msau-run end to end: odd sizes, 16-bit, RGBA, bad files, bad hints, resume, exit codes, no stray files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from msau.runtime.cli import main
from msau.runtime.image_io import read_image
from msau.runtime.side_by_side import GAP

torch = pytest.importorskip("torch")

SIZE = 32


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from msau.export.onnx_export import export_onnx
    from msau.model.network import create_model

    torch.manual_seed(0)
    net = create_model("tiny", widths=(4, 8, 16, 32, 64)).eval()
    return export_onnx(net, tmp_path_factory.mktemp("model") / "m.onnx", size=SIZE)


def run(model: Path, *args: str, quiet: bool = True) -> int:
    base = ["--model", str(model), "--backend", "onnxruntime", "--threads", "1", "--size", str(SIZE)]
    return main([*map(str, args), *base, *(["-q"] if quiet else [])])


def write(path: Path, image: np.ndarray) -> Path:
    """Write an RGB/RGBA/gray array with OpenCV (which wants BGR order)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    """Good photos of odd sizes and kinds, plus a corrupt and an empty file."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write(folder / "gray.png", (rng.random((37, 53)) * 255).astype(np.uint8))
    write(folder / "colour.jpg", (rng.random((61, 100, 3)) * 255).astype(np.uint8))
    write(folder / "deep.png", (rng.random((40, 30, 3)) * 65535).astype(np.uint16))
    write(folder / "alpha.png", (rng.random((20, 70, 4)) * 255).astype(np.uint8))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated " * 10)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image: a folder scan leaves it alone")
    return folder


GOOD = {"gray": (37, 53), "colour": (61, 100), "deep": (40, 30), "alpha": (20, 70)}


def test_folder_with_good_and_bad_files(model, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(model, photos, "-o", out, "--batch-size", "3") == 1
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{stem}.png" for stem in GOOD)  # no temp files
    for stem, shape in GOOD.items():
        result = read_image(out / f"{stem}.png")
        assert result.shape == shape + (3,) and result.dtype == np.uint8
    assert f"{photos / 'corrupt.jpg'}: not a readable image" in captured.err
    assert f"{photos / 'empty.png'}: empty file (0 bytes)" in captured.err
    assert "done 4, failed 2, skipped 0" in captured.out
    assert "images/s" in captured.out


def test_all_good_exits_0_and_jpg_format(model, photos, tmp_path, capsys):
    (photos / "corrupt.jpg").unlink()
    (photos / "empty.png").unlink()
    out = tmp_path / "out"
    assert run(model, photos, "-o", out, "--format", "jpg", quiet=False) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{stem}.jpg" for stem in GOOD)
    assert read_image(out / "gray.jpg").shape == (37, 53, 3)
    captured = capsys.readouterr()
    assert "done 4, failed 0, skipped 0" in captured.out
    assert "4/4" in captured.err and "img/s" in captured.err  # the progress bar


def test_hint_folder_with_a_point_outside_and_a_broken_file(model, photos, tmp_path, capsys):
    hints = tmp_path / "hints"
    hints.mkdir()
    (hints / "gray.json").write_text(json.dumps({"hints": [{"x": 10, "y": 5, "rgb": [255, 0, 0]}]}))
    (hints / "colour.json").write_text(json.dumps({"hints": [{"x": 100, "y": 5, "rgb": [255, 0, 0]}]}))  # x max is 99
    (hints / "deep.json").write_text("{not json")
    painted = np.zeros((20, 70, 4), np.uint8)
    painted[3, 4] = [0, 255, 0, 255]
    write(hints / "alpha.png", painted)
    out = tmp_path / "out"
    assert run(model, photos, "-o", out, "--hints", hints) == 1
    err = capsys.readouterr().err
    assert f"{photos / 'colour.jpg'}: {hints / 'colour.json'}: hint 0 at (x=100, y=5) lies outside the 100x61 image" in err
    assert f"{photos / 'deep.png'}: {hints / 'deep.json'}: not valid JSON" in err
    assert sorted(p.name for p in out.iterdir()) == ["alpha.png", "gray.png"]
    without = tmp_path / "plain"
    run(model, photos / "gray.png", "-o", without)
    assert not np.array_equal(read_image(out / "gray.png"), read_image(without / "gray.png"))  # the hint was used


def test_one_hint_file_for_one_input(model, photos, tmp_path, capsys):
    hint = tmp_path / "one.json"
    hint.write_text(json.dumps({"hints": [{"x": 60, "y": 0, "rgb": [0, 0, 255]}]}))
    assert run(model, photos / "gray.png", "-o", tmp_path / "out", "--hints", hint) == 1  # 60 > 52
    assert "one.json: hint 0 at (x=60, y=0) lies outside the 53x37 image" in capsys.readouterr().err
    assert run(model, photos / "colour.jpg", "-o", tmp_path / "out", "--hints", hint) == 0
    assert run(model, photos, "-o", tmp_path / "out", "--hints", hint) == 2
    assert "is one file but there are 6 inputs" in capsys.readouterr().err


def test_skip_existing_resumes(model, photos, tmp_path, capsys):
    (photos / "corrupt.jpg").unlink()
    (photos / "empty.png").unlink()
    out = tmp_path / "out"
    assert run(model, photos / "gray.png", "-o", out) == 0
    marker = out / "gray.png"
    marker.write_bytes(b"left alone")
    capsys.readouterr()
    assert run(model, photos, "-o", out, "--skip-existing") == 0
    assert marker.read_bytes() == b"left alone"
    assert "done 3, failed 0, skipped 1" in capsys.readouterr().out
    assert run(model, photos, "-o", out) == 0  # without the flag, outputs are redone
    assert read_image(marker).shape == (37, 53, 3)


def test_never_overwrites_an_input(model, photos, capsys):
    before = (photos / "gray.png").read_bytes()
    assert run(model, photos / "gray.png", photos / "colour.jpg", "-o", photos) == 1
    assert (photos / "gray.png").read_bytes() == before
    assert f"{photos / 'gray.png'}: output {photos / 'gray.png'} is an input file" in capsys.readouterr().err
    assert read_image(photos / "colour.png").shape == (61, 100, 3)  # colour.jpg -> colour.png is not an input


def test_recursive_globs_and_same_stem(model, photos, tmp_path, capsys):
    sub = photos / "sub"
    sub.mkdir()
    write(sub / "gray.png", np.zeros((16, 24), np.uint8))
    write(photos / "gray.jpg", np.zeros((8, 8), np.uint8))  # same stem as gray.png in the same folder
    out = tmp_path / "out"
    assert run(model, photos, "-o", out, "-r") == 1
    assert read_image(out / "sub" / "gray.png").shape == (16, 24, 3)  # subfolders mirrored
    assert "would also be written for" in capsys.readouterr().err
    flat = tmp_path / "flat"
    assert run(model, str(photos / "*.png"), "-o", flat) == 1  # the glob matches empty.png too
    assert sorted(p.name for p in flat.iterdir()) == ["alpha.png", "deep.png", "gray.png"]


def test_side_by_side(model, photos, tmp_path):
    out = tmp_path / "out"
    hints = tmp_path / "hints"
    hints.mkdir()
    (hints / "gray.json").write_text(json.dumps({"hints": [{"x": 10, "y": 5, "rgb": [255, 0, 0]}]}))
    run(model, photos / "gray.png", photos / "colour.jpg", "-o", out, "--side-by-side", "--hints", hints)
    gray = read_image(out / "gray_compare.png")
    assert gray.shape == (37, 3 * 53 + 2 * GAP, 3)  # gray | hints | result
    left, marked = gray[:, :53], gray[:, 53 + GAP : 2 * 53 + GAP]
    assert np.abs(left.astype(int) - marked).sum(axis=2).max() > 100  # the red hint is drawn
    np.testing.assert_array_equal(gray[:, -53:], read_image(out / "gray.png"))
    colour = read_image(out / "colour_compare.png")
    assert colour.shape == (61, 4 * 100 + 3 * GAP, 3)  # ... | original, for a colour input


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["missing_folder"], "no such file, folder or matching glob: missing_folder"),
        (["{tmp}/*.webp"], "matching glob"),
        (["{tmp}"], "no images found in"),
    ],
)
def test_usage_errors_exit_2(model, tmp_path, capsys, args, fragment):
    args = [a.format(tmp=tmp_path) for a in args]
    assert run(model, *args, "-o", tmp_path / "out") == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_options_exit_2(model, photos, tmp_path, capsys, monkeypatch):
    assert main([str(photos), "-o", str(tmp_path / "o"), "--backend", "tflite"]) == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    assert main([str(photos), "-o", str(tmp_path / "o"), "--size", "100"]) == 2
    assert "argument --size: must be a multiple of 16 (four 2x2 poolings), got 100" in capsys.readouterr().err
    assert main([str(photos)]) == 2  # -o is required
    assert main([str(photos), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "none.onnx")]) == 2
    assert "none.onnx: no such model file" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # tensorrt not installed, wherever this runs
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    assert main([str(photos), "-o", str(tmp_path / "o"), "--model", str(engine), "--backend", "tensorrt"]) == 2
    assert "pip install 'msau[tensorrt]'" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_gray_from_luma_gives_the_gray_back(model, tmp_path, make_image, capsys):
    """A gray made by OpenCV (Rec. 601 luma) with hints from its colour original: by default (auto) the output made
    gray by the same formula is the input again; read as lightness (--gray-from lightness) it is not."""
    from msau.runtime.hints import sample_hints

    original = make_image(64, 96, seed=5)
    gray = cv2.cvtColor(original, cv2.COLOR_RGB2GRAY)
    write(tmp_path / "in.png", gray)
    (tmp_path / "in.json").write_text(json.dumps(sample_hints(original, 0.01, 0).to_json()))
    off = {}
    for gray_from in ("auto", "lightness"):
        out = tmp_path / gray_from
        assert run(model, tmp_path / "in.png", "--hints", tmp_path / "in.json", "-o", out, "--gray-from", gray_from) == 0
        off[gray_from] = np.abs(cv2.cvtColor(read_image(out / "in.png"), cv2.COLOR_RGB2GRAY).astype(int) - gray)
        told = "msau-run: 1 gray photo(s) read as rec601 luma, as their hints tell (--gray-from lightness reads v as (v, v, v))"
        assert (told in capsys.readouterr().err) == (gray_from == "auto")
    assert np.mean(off["auto"] > 1) < 0.01
    assert np.mean(off["lightness"] > 1) > 0.3
    assert main([str(tmp_path / "in.png"), "-o", str(tmp_path / "o"), "--gray-from", "luma"]) == 2
    assert "argument --gray-from: invalid choice: 'luma'" in capsys.readouterr().err


def test_output_folder_inside_the_input_folder_is_not_rescanned(model, photos, capsys):
    (photos / "corrupt.jpg").unlink()
    (photos / "empty.png").unlink()
    out = photos / "colorized"
    assert run(model, photos, "-r", "-o", out) == 0
    assert run(model, photos, "-r", "-o", out) == 0
    assert "done 4, failed 0, skipped 0" in capsys.readouterr().out.splitlines()[-1]
    assert sorted(p.name for p in out.rglob("*")) == sorted(f"{stem}.png" for stem in GOOD)
