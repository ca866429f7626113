"""Holdout metrics of latency predictions, checked against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latency_db.errors import ValidationError
from latency_db.predictors import holdout_metrics, kendall_tau_b


def test_metrics_of_a_hand_computed_example() -> None:
    # errors 10, -5, 10, 10 ms; relative errors 0.10, 0.05, 10/190, 0.25
    metrics = holdout_metrics([110.0, 95.0, 200.0, 50.0], [100.0, 100.0, 190.0, 40.0])
    assert metrics["n"] == 4
    assert metrics["rmse_ms"] == pytest.approx(math.sqrt((100 + 25 + 100 + 100) / 4))
    assert metrics["mape_pct"] == pytest.approx(100 * (0.10 + 0.05 + 10 / 190 + 0.25) / 4)
    assert metrics["within5_pct"] == pytest.approx(25.0)  # only the 5% error, bound included
    assert metrics["within10_pct"] == pytest.approx(75.0)
    # pairs: one tie in measured (0, 1), the other five concordant: 5 / sqrt(6 * 5)
    assert metrics["kendall_tau"] == pytest.approx(5 / math.sqrt(30))


def test_kendall_tau_b_with_ties_in_both() -> None:
    # pairs (i<j): (0,1) C, (0,2) C, (0,3) C, (1,2) tied in x, (1,3) D, (2,3) tied in y
    x = np.array([1.0, 2.0, 2.0, 3.0])
    y = np.array([1.0, 3.0, 2.0, 2.0])
    assert kendall_tau_b(x, y) == pytest.approx((3 - 1) / math.sqrt((6 - 1) * (6 - 1)))


def test_kendall_tau_b_extremes_and_undefined() -> None:
    x = np.arange(10.0)
    assert kendall_tau_b(x, 3 * x + 1) == pytest.approx(1.0)
    assert kendall_tau_b(x, -x) == pytest.approx(-1.0)
    assert kendall_tau_b(x, np.ones(10)) is None
    assert holdout_metrics([1.0], [2.0])["kendall_tau"] is None


def test_kendall_tau_b_in_chunks_equals_the_direct_count() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 30, size=2500).astype(float)  # many ties, several chunks
    y = x + rng.integers(0, 10, size=2500).astype(float)
    i, j = np.triu_indices(x.size, k=1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    direct = (sx * sy).sum() / math.sqrt(np.count_nonzero(sx) * np.count_nonzero(sy))
    assert kendall_tau_b(x, y) == pytest.approx(direct)


@pytest.mark.parametrize(
    ("predicted", "measured", "message"),
    [
        ([1.0, 2.0], [1.0], "one length"),
        ([], [], "no points"),
        ([1.0], [0.0], "positive"),
        ([float("nan")], [1.0], "finite"),
    ],
)
def test_bad_inputs_are_rejected(
    predicted: list[float], measured: list[float], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        holdout_metrics(predicted, measured)
