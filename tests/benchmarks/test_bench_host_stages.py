import itertools

import pytest

from msau.benchmarks.host_stages import measure_host_stages
from msau.benchmarks.report import document_tables, host_stages_table


def test_each_stage_is_the_median_of_its_timed_calls():
    ticks = itertools.count()
    clock = lambda: next(ticks) * 0.002  # noqa: E731  every reading 2 ms after the last: each call "takes" 2 ms
    stages = measure_host_stages([32, 48], runs=3, clock=clock)
    assert [s["size"] for s in stages] == [32, 48]
    for stage in stages:
        for key in ("encode_ms", "propagate_ms", "decode_ms"):
            assert stage[key] == pytest.approx(2.0)
        assert stage["total_ms"] == pytest.approx(6.0)


def test_real_timings_are_positive_and_tabled():
    (stage,) = measure_host_stages([64], runs=2)
    assert all(stage[k] > 0 for k in ("encode_ms", "propagate_ms", "decode_ms"))
    document = {"kind": "latency", "results": [], "peaks": None, "host_stages": [stage]}
    headers, rows = host_stages_table(document)
    assert headers == ["size", "encode ms", "propagation ms", "decode ms", "total ms"]
    assert rows[0][0] == "64" and float(rows[0][4]) == pytest.approx(stage["total_ms"], abs=0.01)
    titles = [title for title, _ in document_tables(document)]
    assert titles[-1].startswith("Runtime CPU work per image")
