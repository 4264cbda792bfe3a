"""python -m msau.benchmarks.gray_formula: grays made by each formula, told and scored."""

from __future__ import annotations

import re

import cv2
import numpy as np

from msau.benchmarks.gray_formula import load_crops, main, make_gray, quality_table
from msau.benchmarks.photos import synthetic_photo
from msau.runtime.color import gray_lightness, rgb_to_lab


def test_make_gray_follows_each_formula():
    photo = synthetic_photo(64, seed=1)
    assert np.abs(make_gray(photo, "rec601").astype(int) - cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)).max() <= 1
    assert np.abs(gray_lightness(make_gray(photo, "lightness")) - rgb_to_lab(photo)[..., 0]).max() < 0.3


def test_quality_table_tells_each_formula_and_scores_luma_above_lightness(tmp_path):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), cv2.cvtColor(synthetic_photo(300, seed=i), cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not a photo")
    photos = load_crops(tmp_path, 5)
    assert len(photos) == 2 and photos[0].shape == (256, 256, 3)
    table = quality_table(photos, [0.005], "onnxruntime")
    rows = {m.group(1): m.groups() for m in re.finditer(r"\| (\w+) \| 0.5% \| ([\d.]+) \| ([\d.]+) \| (.+) \|", table)}
    assert set(rows) == {"lightness", "rec601", "rec709"}
    assert rows["lightness"][3] == "lightness 2" and rows["rec601"][3] == "rec601 2"
    assert float(rows["lightness"][1]) == float(rows["lightness"][2])  # a contract gray is served as before
    assert float(rows["rec601"][1]) > float(rows["rec601"][2]) + 0.3  # measured: +0.76 dB


def test_an_empty_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["--photos", str(tmp_path), "--backend", "onnxruntime"]) == 2
    assert capsys.readouterr().err.strip() == f"gray_formula: {tmp_path}: no readable photos"
