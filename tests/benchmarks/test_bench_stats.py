import numpy as np
import pytest

from msau.benchmarks.stats import percentile, summarize


def test_percentiles_of_one_to_hundred_follow_linear_interpolation():
    samples = list(range(1, 101))
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 90) == pytest.approx(90.1)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile(samples, 0) == 1 and percentile(samples, 100) == 100


def test_summary_scales_seconds_to_milliseconds_and_per_image():
    samples = [0.010, 0.020, 0.030, 0.040]  # seconds
    per_batch = summarize(samples, 1000.0)
    assert per_batch["count"] == 4
    assert per_batch["mean"] == pytest.approx(25.0)
    assert per_batch["p50"] == pytest.approx(25.0)
    assert per_batch["p90"] == pytest.approx(37.0)  # 30 + 0.7 * 10
    assert per_batch["p99"] == pytest.approx(39.7)
    assert per_batch["min"] == pytest.approx(10.0) and per_batch["max"] == pytest.approx(40.0)
    assert per_batch["std"] == pytest.approx(np.std([10, 20, 30, 40]))
    per_image = summarize(samples, 1000.0 / 8)
    assert per_image["p50"] == pytest.approx(25.0 / 8)


def test_single_sample_has_all_percentiles_equal():
    summary = summarize([0.5])
    assert summary["p50"] == summary["p90"] == summary["p99"] == 0.5
    assert summary["std"] == 0.0


def test_empty_samples_and_bad_percentiles_are_refused():
    with pytest.raises(ValueError, match="empty"):
        summarize([])
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="0..100"):
        percentile([1.0], 101)
