"""Fitting with a seeded holdout, loading stored params, and active sampling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latency_db.errors import ValidationError
from latency_db.predictors import (
    LinearPredictor,
    encode_architectures,
    fit_predictor,
    layer_table,
    load_predictor,
    most_uncertain,
    nearest_budget,
)
from latency_db.spaces import SearchSpace, get_space


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return get_space("proxyless", resolution=32, width_mult=0.35, num_classes=10)


@pytest.fixture(scope="module")
def lut(space: SearchSpace) -> dict[str, float]:
    rng = np.random.default_rng(0)
    return {key: float(rng.uniform(0.1, 2.0)) for key in space.all_op_keys()}


@pytest.fixture(scope="module")
def measured(space: SearchSpace, lut: dict[str, float]) -> tuple[list[str], list[float]]:
    """50 networks, each 10-30% slower than its LUT sum."""
    archs = [space.format(space.sample(seed)) for seed in range(50)]
    lut_ms = layer_table(space, lut).total_ms(encode_architectures(space, archs))
    factor = np.random.default_rng(1).uniform(1.1, 1.3, size=len(archs))
    return archs, (lut_ms * factor).tolist()


def test_fit_holds_out_a_seeded_share_and_reports_on_it(
    space: SearchSpace, lut: dict[str, float], measured: tuple[list[str], list[float]]
) -> None:
    archs, latencies = measured
    result = fit_predictor("linear", space, lut, archs, latencies, holdout=0.2, seed=3)
    assert len(result.holdout_positions) == 10 and len(result.train_positions) == 40
    assert sorted(result.train_positions + result.holdout_positions) == list(range(50))
    again = fit_predictor("linear", space, lut, archs, latencies, holdout=0.2, seed=3)
    assert again.holdout_positions == result.holdout_positions
    assert again.params == result.params
    other = fit_predictor("linear", space, lut, archs, latencies, holdout=0.2, seed=4)
    assert other.holdout_positions != result.holdout_positions

    metrics = result.metrics
    assert metrics["evaluated_on"] == "holdout" and metrics["n"] == 10
    assert set(metrics) >= {"rmse_ms", "mape_pct", "within5_pct", "within10_pct", "kendall_tau"}
    calibration = result.calibration
    assert calibration is not None
    held = list(result.holdout_positions)
    assert calibration["architectures"] == [archs[i] for i in held]
    assert calibration["measured_ms"] == [latencies[i] for i in held]
    predicted, _ = result.predictor.predict(encode_architectures(space, [archs[i] for i in held]))
    assert calibration["predicted_ms"] == predicted.tolist()
    json.dumps([result.params, result.metrics, result.calibration])  # plain JSON, no NaN
    assert isinstance(load_predictor(result.params), LinearPredictor)


def test_an_empty_holdout_reports_on_the_training_points(
    space: SearchSpace, lut: dict[str, float], measured: tuple[list[str], list[float]]
) -> None:
    archs, latencies = measured
    result = fit_predictor("lut", space, lut, archs, latencies, holdout=0.0)
    assert result.holdout_positions == () and len(result.train_positions) == 50
    assert result.metrics["evaluated_on"] == "train" and result.metrics["n"] == 50
    assert result.metrics["within5_pct"] == 0.0  # every network is >= 10% slower than the LUT


def test_a_lut_predictor_needs_no_measurements(space: SearchSpace, lut: dict[str, float]) -> None:
    result = fit_predictor("lut", space, lut, [], [])
    assert result.metrics == {"n": 0, "evaluated_on": None} and result.calibration is None
    assert result.params["kind"] == "lut"


def test_bad_fit_requests_are_rejected(
    space: SearchSpace, lut: dict[str, float], measured: tuple[list[str], list[float]]
) -> None:
    archs, latencies = measured
    with pytest.raises(ValidationError, match="unknown predictor kind 'tree'"):
        fit_predictor("tree", space, lut, archs, latencies)
    with pytest.raises(ValidationError, match="needs at least 2 training"):
        fit_predictor("mlp", space, lut, archs[:2], latencies[:2], holdout=0.5)
    with pytest.raises(ValidationError, match="holdout"):
        fit_predictor("linear", space, lut, archs, latencies, holdout=1.0)
    with pytest.raises(ValidationError, match="finite and positive"):
        fit_predictor("linear", space, lut, archs, [*latencies[:-1], -1.0])
    with pytest.raises(ValidationError, match="49 architectures"):
        fit_predictor("linear", space, lut, archs[:-1], latencies)
    partial = {k: v for k, v in list(lut.items())[1:]}
    with pytest.raises(ValidationError, match=r"lacks 1 op key.*hwnas lut build"):
        fit_predictor("lut", space, partial, archs, latencies)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_a_lookup_table_joins_only_when_complete(
    kind: str, space: SearchSpace, lut: dict[str, float], measured: tuple[list[str], list[float]]
) -> None:
    archs, latencies = measured
    partial = {k: v for k, v in list(lut.items())[1:]}
    assert fit_predictor(kind, space, lut, archs, latencies).metrics["lut_features"] is True
    without = fit_predictor(kind, space, partial, archs, latencies)
    assert without.metrics["lut_features"] is False
    assert without.params.get("lut_table_ms", without.params.get("lut_scale")) is None


class FixedPredictions:
    """A stand-in predictor with given means and stds for a pool of five."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean, self.std = np.array(mean), np.array(std)

    def predict(self, pool: object, /) -> tuple[np.ndarray, np.ndarray]:
        return self.mean, self.std


def test_sampling_picks_uncertain_or_near_budget_members() -> None:
    pool = ["a", "b", "c", "d", "e"]
    model = FixedPredictions([10.0, 14.0, 11.0, 9.5, 30.0], [0.1, 2.0, 0.5, 2.0, 1.0])
    assert most_uncertain(model, pool, 3) == ["b", "d", "e"]  # ties keep pool order
    assert nearest_budget(model, pool, 10.2, 2) == ["a", "d"]
    assert nearest_budget(model, pool, 10.2, 9) == ["a", "d", "c", "b", "e"]
    with pytest.raises(ValidationError, match="budget_ms"):
        nearest_budget(model, pool, 0.0, 2)
    with pytest.raises(ValidationError, match="n must be"):
        most_uncertain(model, pool, -1)


def test_sampling_with_a_fitted_ensemble(
    space: SearchSpace, lut: dict[str, float], measured: tuple[list[str], list[float]]
) -> None:
    archs, latencies = measured
    mlp = fit_predictor("mlp", space, lut, archs, latencies).predictor
    pool = list(encode_architectures(space, [space.sample(1000 + i) for i in range(200)]))
    mean, std = mlp.predict(pool)
    np.testing.assert_allclose(
        mlp.predict(most_uncertain(mlp, pool, 5))[1], np.sort(std)[::-1][:5], rtol=1e-9
    )
    budget = float(np.median(mean))
    near = mlp.predict(nearest_budget(mlp, pool, budget, 5))[0]
    np.testing.assert_allclose(np.abs(near - budget), np.sort(np.abs(mean - budget))[:5], rtol=1e-9)
