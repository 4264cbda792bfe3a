import numpy as np
import pytest

from msau.benchmarks.configs import Config
from msau.benchmarks.latency import LatencySettings, make_input, run_latency, timing_summary
from msau.benchmarks.schema import ConfigResult
from msau.runtime.backends.base import MissingDependencyError

# 0.125 s per image: every sum of fake times below is exact in binary floating point.
STEP = 0.125


def settings(**overrides) -> LatencySettings:
    values = dict(batch_sizes=(1,), sizes=(32,), time_limit_s=100.0, budget_s=1.0, warmup_s=0.25, min_runs=3)
    values.update(overrides)
    return LatencySettings(**values)


@pytest.fixture
def FakeBackend(fake_backend_class):  # noqa: N802 (a class, by fixture)
    return fake_backend_class


def run(configs, fake_clock, backends, **overrides):
    opened = []

    def opener(config):
        backend = backends[config.backend]
        if isinstance(backend, Exception):
            raise backend
        opened.append(config.backend)
        return backend

    return run_latency(configs, settings(**overrides), opener=opener, clock=fake_clock), opened


def test_timed_runs_fill_the_budget_after_warm_up(fake_clock, FakeBackend):
    backend = FakeBackend(fake_clock, STEP)
    (result,), _ = run([Config("a", "fp32")], fake_clock, {"a": backend})
    (entry,) = result.batches
    assert result.status == "ok"
    assert entry.warmup_runs == 2  # 0.125 s, then 0.25 s >= warmup_s
    assert entry.runs == 8  # 8 x 0.125 s = the 1 s budget
    assert len(backend.calls) == 10
    assert entry.latency_ms.p50 == pytest.approx(125.0)
    assert entry.images_per_s == pytest.approx(8.0)
    assert backend.closed


def test_min_runs_wins_over_a_short_budget(fake_clock, FakeBackend):
    backend = FakeBackend(fake_clock, STEP)
    (result,), _ = run([Config("a", "fp32")], fake_clock, {"a": backend}, budget_s=0.25, min_runs=3)
    assert result.batches[0].runs == 3


def test_max_runs_caps_the_timed_runs(fake_clock, FakeBackend):
    backend = FakeBackend(fake_clock, STEP)
    (result,), _ = run([Config("a", "fp32")], fake_clock, {"a": backend}, budget_s=50.0, min_runs=1, max_runs=5)
    assert result.batches[0].runs == 5


def test_json_fields_per_batch_and_per_image(fake_clock, FakeBackend):
    backend = FakeBackend(fake_clock, STEP)
    (result,), _ = run([Config("a", "fp32")], fake_clock, {"a": backend}, batch_sizes=(4,))
    entry = result.batches[0]
    for key in ("p50", "p90", "p99", "mean", "min", "max", "std", "count"):
        assert key in entry.latency_ms.to_json() and key in entry.per_image_ms.to_json()
    assert entry.latency_ms.p99 == pytest.approx(500.0)
    assert entry.per_image_ms.p50 == pytest.approx(125.0)
    assert entry.images_per_s == pytest.approx(8.0)
    assert entry.first_run_ms == pytest.approx(500.0)
    assert result.open_s == 0.0
    assert set(backend.calls) == {4}


def test_a_batch_that_does_not_fit_the_time_limit_is_skipped_with_its_need(fake_clock, FakeBackend):
    backend = FakeBackend(fake_clock, STEP)
    (result,), _ = run([Config("a", "fp32")], fake_clock, {"a": backend}, batch_sizes=(32, 1), time_limit_s=4.0)
    small, large = result.batches
    assert (small.batch, small.status, small.runs) == (1, "ok", 8)
    assert (large.batch, large.status) == (32, "skipped")
    # estimate: 0.125 s per image x 32 = 4 s a run; a warm-up and a run need 8 s, 2.75 s are left
    assert "needs about 8.0 s" in large.reason and "2.8 s of this configuration's share" in large.reason
    assert "raise --time-limit" in large.reason
    assert set(backend.calls) == {1}
    assert result.status == "ok"


def test_a_run_longer_than_the_share_is_made_once_and_noted(fake_clock, FakeBackend):
    backend = FakeBackend(fake_clock, 1.0)
    (result,), _ = run([Config("a", "fp32")], fake_clock, {"a": backend}, time_limit_s=1.5, budget_s=10.0)
    entry = result.batches[0]
    assert entry.warmup_runs == 1 and entry.runs == 1
    assert "fewer than --min-runs 3" in entry.note


def test_the_time_limit_is_shared_between_configurations(fake_clock, FakeBackend):
    first, second = FakeBackend(fake_clock, STEP), FakeBackend(fake_clock, STEP)
    start = fake_clock.now
    results, opened = run(
        [Config("a", "fp32"), Config("b", "fp32")],
        fake_clock,
        {"a": first, "b": second},
        time_limit_s=10.0,
        budget_s=100.0,
        max_runs=1000,
    )
    assert opened == ["a", "b"]
    assert [r.batches[0].runs for r in results] == [38, 38]  # (5 s share - 0.25 s warm-up) / 0.125 s
    assert fake_clock.now - start == pytest.approx(10.0)


def test_configurations_run_one_at_a_time(fake_clock, FakeBackend):
    events = []

    class Recording(FakeBackend):
        def __init__(self, name):
            super().__init__(fake_clock, STEP)
            self.label = name

        def infer(self, x):
            events.append(("infer", self.label))
            return super().infer(x)

        def close(self):
            events.append(("close", self.label))

    run(
        [Config("a", "fp32"), Config("b", "fp32")],
        fake_clock,
        {"a": Recording("a"), "b": Recording("b")},
        batch_sizes=(1, 2),
    )
    assert events.index(("close", "a")) < events.index(("infer", "b"))
    assert events[-1] == ("close", "b")


def test_unavailable_and_broken_backends_become_statuses(fake_clock, FakeBackend):
    class Broken(FakeBackend):
        def infer(self, x):
            raise RuntimeError("kernel exploded")

    class WrongShape(FakeBackend):
        def infer(self, x):
            return np.zeros((x.shape[0], 3, 8, 8), np.float32)

    backends = {
        "missing": MissingDependencyError("the missing backend needs 'thing': pip install 'msau[thing]'"),
        "crash": RuntimeError("cannot open"),
        "broken": Broken(fake_clock, STEP),
        "shape": WrongShape(fake_clock, STEP),
        "good": FakeBackend(fake_clock, STEP),
    }
    configs = [Config(name, "fp32") for name in backends] + [Config("planned", "fp32").skip("no file")]
    results, opened = run(configs, fake_clock, backends)
    by_name = {r.backend: r for r in results}
    assert by_name["missing"].status == "skipped" and "msau[thing]" in by_name["missing"].reason
    assert by_name["crash"].status == "failed" and by_name["crash"].reason == "RuntimeError: cannot open"
    assert by_name["broken"].status == "failed" and by_name["broken"].reason == "RuntimeError: kernel exploded"
    assert by_name["shape"].status == "failed" and "expected (1, 2, 32, 32)" in by_name["shape"].reason
    assert by_name["good"].status == "ok"
    assert by_name["planned"].status == "skipped" and by_name["planned"].batches == []
    assert "planned" not in opened


def test_make_input_follows_the_contract():
    x = make_input(3, 32, seed=1)
    assert x.shape == (3, 4, 32, 32) and x.dtype == np.float32
    assert 0.0 <= x[:, 0].min() and x[:, 0].max() <= 1.0
    assert set(np.unique(x[:, 3])) <= {0.0, 1.0}
    assert np.all(x[:, 1:3][np.broadcast_to(x[:, 3:4] == 0, x[:, 1:3].shape)] == 0)
    np.testing.assert_array_equal(x, make_input(3, 32, seed=1))


def test_timing_summary_throughput_is_batch_over_mean():
    summary = timing_summary([0.5, 1.5], batch=4)
    assert summary["runs"] == 2
    assert summary["images_per_s"] == pytest.approx(4.0)
    assert summary["per_image_ms"]["mean"] == pytest.approx(250.0)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="multiple of 16"):
        LatencySettings(sizes=(30,))
    with pytest.raises(ValueError, match="batch sizes"):
        LatencySettings(batch_sizes=(0,))
    with pytest.raises(ValueError, match="min_runs"):
        LatencySettings(min_runs=5, max_runs=2)


def test_a_configuration_whose_process_dies_is_failed_with_its_last_words(tmp_path):
    from msau.benchmarks.latency import run_latency_isolated

    dying = tmp_path / "python"
    dying.write_text("#!/bin/sh\necho 'Fatal: out of cheese' >&2\nexit 3\n")
    dying.chmod(0o755)
    lines = []
    configs = [Config("onnxruntime", "fp32"), Config("torch", "bf16").skip("no bf16 here")]
    settings = LatencySettings(batch_sizes=(1,), sizes=(32,), time_limit_s=1.0)
    failed, skipped = run_latency_isolated(configs, settings, progress=lines.append, python=str(dying))
    assert failed.status == "failed" and failed.reason == "its process ended with code 3: Fatal: out of cheese"
    assert lines == ["Fatal: out of cheese"]
    assert skipped.status == "skipped" and skipped.reason == "no bf16 here"


def test_auto_is_set_against_the_fastest_measured(monkeypatch, tmp_path):
    from msau.benchmarks import runner
    from msau.runtime.backends import auto

    model = tmp_path / "m.onnx"
    monkeypatch.setattr(auto, "choose", lambda path: auto.Choice("openvino", path, "bf16", "CPU"))

    def result(backend, precision, ms):
        entry = {"status": "ok", "batch": 1, "size": 256, "per_image_ms": {"p50": ms}}
        return {"backend": backend, "precision": precision, "status": "ok", "batches": [entry]}

    results = [result("openvino", "bf16", 22.0), result("openvino", "fp32", 40.0), result("onnxruntime", "fp32", 20.0)]
    summary = runner.auto_summary(model, [ConfigResult.from_json(r) for r in results], 256)
    assert (summary.backend, summary.precision, summary.per_image_ms) == ("openvino", "bf16", 22.0)
    assert summary.fastest.to_json() == {"backend": "onnxruntime", "precision": "fp32", "per_image_ms": 20.0}
    assert summary.ratio_to_fastest == pytest.approx(1.1)
    assert summary.reason
