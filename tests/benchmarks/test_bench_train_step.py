"""python -m msau.benchmarks.train_step: one table row per configuration, usage errors as exit 2."""

from __future__ import annotations

import pytest

from msau.benchmarks.train_step import main


def test_prints_a_row_per_configuration(capsys: pytest.CaptureFixture) -> None:
    assert main(["--presets", "tiny", "--crops", "64x2,80x1", "--precisions", "bf16,fp32", "--steps", "1",
                 "--threads", "1"]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert [row[1:3] for row in rows] == [["64² x 2", "bf16"], ["64² x 2", "fp32"], ["80² x 1", "bf16"], ["80² x 1", "fp32"]]
    assert all(float(row[3]) > 0 and float(row[4].strip(" |")) > 0 for row in rows)


@pytest.mark.parametrize("args", [["--crops", "64"], ["--precisions", "int4"], ["--steps", "0"]])
def test_bad_options_are_usage_errors(args: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2 and "error:" in capsys.readouterr().err


def test_an_unknown_preset_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["--presets", "huge", "--crops", "32x1", "--steps", "1"]) == 2
    assert "huge 32x1: unknown preset 'huge'; choose one of" in capsys.readouterr().err
