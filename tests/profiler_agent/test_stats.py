from __future__ import annotations

import pytest

from profiler_agent.stats import InvalidTimings, summarize, validate_times


def test_summary_of_known_values() -> None:
    stats = summarize([1.0, 2.0, 3.0, 4.0, 10.0])
    assert stats.runs == 5
    assert stats.median_ms == 3.0
    assert stats.mean_ms == 4.0
    assert (stats.min_ms, stats.max_ms, stats.total_ms) == (1.0, 10.0, 20.0)
    assert stats.std_ms == pytest.approx(3.5355339, rel=1e-6)  # sample std, ddof=1
    assert stats.cv == pytest.approx(3.5355339 / 4.0, rel=1e-6)
    assert stats.p90_ms == pytest.approx(7.6)  # linear interpolation
    assert stats.to_dict()["median_ms"] == 3.0


def test_single_run_has_zero_spread() -> None:
    stats = summarize([2.5])
    assert (stats.std_ms, stats.cv, stats.median_ms) == (0.0, 0.0, 2.5)


@pytest.mark.parametrize(
    ("times", "match"),
    [([], "no run times"), ([1.0, float("nan")], "run 1: nan"), ([-1.0], "run 0: -1.0")],
)
def test_invalid_times(times: list[float], match: str) -> None:
    with pytest.raises(InvalidTimings, match=match):
        validate_times(times, "x")
