"""The runtime's work from real Colorizer calls: end to end minus the network, each a median of timed calls."""

import itertools

import numpy as np
import pytest

from msau.benchmarks.host_stages import hints_document, measure_full_resolution, measure_runtime_work
from msau.benchmarks.report import document_tables, runtime_work_table
from msau.benchmarks.schema import Document


class _StubColorizer:
    """A Colorizer whose calls take fixed fake times: end to end = prepare + network + finish."""

    size = 32

    def __init__(self, clock) -> None:
        self.clock = clock

    def _take(self, seconds: float) -> None:
        self.clock.now += seconds

    def prepare(self, photo, hints):
        assert isinstance(hints, dict) and hints["hints"]  # a JSON document, parsed by the call as a user's is
        self._take(0.002)
        return "prepared"

    def infer(self, prepared):
        self._take(0.010)
        return np.zeros((len(prepared), 2, self.size, self.size), np.float32)

    def finish(self, ab, prepared):
        self._take(0.003)
        return np.zeros((self.size, self.size, 3), np.uint8)

    def __call__(self, photo, hints):
        return self.finish(self.infer([self.prepare(photo, hints)])[0], "prepared")


def test_runtime_work_is_end_to_end_minus_the_network(fake_clock):
    work = measure_runtime_work(_StubColorizer(fake_clock), runs=3, clock=fake_clock)
    assert work["size"] == 32 and work["runs"] == 3 and work["hints"] == 5  # 0.5 % of 32x32
    assert work["end_to_end_ms"] == pytest.approx(15.0)
    assert work["network_ms"] == pytest.approx(10.0)
    assert work["runtime_ms"] == pytest.approx(5.0)
    assert (work["prepare_ms"], work["finish_ms"]) == (pytest.approx(2.0), pytest.approx(3.0))
    assert work["runtime_share"] == pytest.approx(0.5)


def test_hints_document_is_what_a_user_sends():
    photo = np.full((20, 30, 3), 128, np.uint8)
    document = hints_document(photo, 0.01, seed=1)
    assert len(document["hints"]) == 6
    assert all(set(h) == {"x", "y", "rgb"} and h["rgb"] == [128, 128, 128] for h in document["hints"])


def test_real_colorizer_timings_are_tabled(tiny_artifacts):
    from msau.runtime.colorizer import Colorizer

    with Colorizer(tiny_artifacts, backend="onnxruntime", size=32) as colorizer:
        work = measure_runtime_work(colorizer, runs=2)
    assert work["end_to_end_ms"] > work["runtime_ms"] > 0 and work["network_ms"] > 0
    document = Document.from_json(
        {"kind": "latency", "results": [], "peaks": None,
         "runtime_work": [{"backend": "onnxruntime", "precision": "fp32", **work}]}
    )
    headers, rows = runtime_work_table(document)
    assert headers[:3] == ["backend", "precision", "size"]
    assert rows[0][:3] == ["onnxruntime", "fp32", "32"]
    assert float(rows[0][6]) == pytest.approx(work["runtime_ms"], abs=0.01)
    assert [title for title, _ in document_tables(document)][-1].startswith("The runtime's work per image")


def test_full_resolution_work_is_timed_per_stage(fake_clock):
    ticks = itertools.count()
    work = measure_full_resolution(48, 64, runs=2, size=16, clock=lambda: next(ticks) * 0.5)
    assert work == {"height": 48, "width": 64, "runs": 2, "lightness_s": 0.5, "decode_s": 0.5}


def test_a_slow_backend_stops_after_the_minimum_runs_past_the_budget(fake_clock):
    work = measure_runtime_work(_StubColorizer(fake_clock), runs=10, clock=fake_clock, budget_s=0.05)
    assert work["runs"] == 3 and work["runtime_ms"] == pytest.approx(5.0)
