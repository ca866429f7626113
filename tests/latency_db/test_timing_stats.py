"""Server-side statistics of raw timings, and rejection of samples that cannot be times."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latency_db.errors import ValidationError
from latency_db.timing_stats import UNSTABLE_CV, compute_stats


def test_statistics_of_known_samples() -> None:
    times = [float(v) for v in range(1, 101)]  # 1..100 ms
    stats = compute_stats(times)
    assert stats.n == 100
    assert stats.min_ms == 1.0
    assert stats.median_ms == pytest.approx(50.5)
    assert stats.mean_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01)
    assert stats.std_ms == pytest.approx(math.sqrt(sum((t - 50.5) ** 2 for t in times) / 99))
    assert stats.cv == pytest.approx(stats.std_ms / 50.5)
    assert stats.unstable


def test_steady_samples_are_stable() -> None:
    rng = np.random.default_rng(0)
    stats = compute_stats(list(10.0 + rng.normal(0.0, 0.05, size=50)))
    assert stats.cv < UNSTABLE_CV and not stats.unstable
    assert compute_stats([3]).std_ms == 0.0


@pytest.mark.parametrize(
    ("times", "problem"),
    [
        ([], "empty"),
        ([1.0, float("nan")], r"times_ms\[1\] is NaN"),
        ([float("inf")], r"times_ms\[0\] is infinite"),
        ([1.0, 2.0, -0.5], r"times_ms\[2\].*positive"),
        ([0.0], r"times_ms\[0\].*positive"),
        ([1.0, "2"], r"times_ms\[1\] is not a number"),
        ([True], r"times_ms\[0\] is not a number"),
        ("1.0", "list of numbers"),
    ],
)
def test_bad_samples_are_rejected_naming_the_problem(times: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        compute_stats(times)  # type: ignore[arg-type]


def test_median_interval_is_the_order_statistics_of_le_boudec_ranks() -> None:
    times = [float(v) for v in range(100, 0, -1)]  # 1..100 ms, in any order
    # n = 100: ranks floor(50 - 9.8) = 40 and ceil(51 + 9.8) = 61 (1-based)
    assert compute_stats(times).median_ci_ms == (40.0, 61.0)
    assert compute_stats([3.0, 1.0, 2.0, 5.0, 4.0, 8.0, 7.0, 6.0]).median_ci_ms == (1.0, 8.0)
    assert compute_stats([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]).median_ci_ms is None


def test_median_interval_covers_the_true_median_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_median = math.exp(0.0)  # lognormal(0, 0.5): skewed, like run times
    trials = 2000
    covered = 0
    for _ in range(trials):
        interval = compute_stats(list(rng.lognormal(0.0, 0.5, size=50))).median_ci_ms
        assert interval is not None
        covered += interval[0] <= true_median <= interval[1]
    assert 0.94 <= covered / trials <= 0.99
