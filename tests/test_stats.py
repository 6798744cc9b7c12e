import numpy as np
import pytest

from ecoscore.runners.stats import latency_summary, median_stat


def test_median_ci_five_repeats_is_min_max_at_93_75_percent():
    s = median_stat([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s.median == 3.0
    assert (s.ci_low, s.ci_high) == (1.0, 5.0)
    assert s.ci_level == pytest.approx(1 - 2 / 32)
    assert s.n == 5
    assert s.cv == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1) / 3)


def test_median_ci_reaches_95_percent_with_more_repeats():
    s = median_stat(list(range(1, 21)))
    assert s.ci_level >= 0.95
    assert s.ci_low > 1 and s.ci_high < 20
    assert s.ci_low <= s.median <= s.ci_high


def test_single_value_has_no_interval():
    s = median_stat([2.5])
    assert (s.median, s.ci_low, s.ci_high, s.ci_level, s.cv) == (2.5, 2.5, 2.5, 0.0, 0.0)


def test_latency_percentiles_in_ms():
    lat = latency_summary(np.arange(1, 101, dtype=np.int64) * 1_000_000)
    assert lat.count == 100
    assert lat.p50_ms == pytest.approx(50.5)
    assert lat.p90_ms == pytest.approx(90.1)
    assert lat.min_ms == 1.0 and lat.max_ms == 100.0
