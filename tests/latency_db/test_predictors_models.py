"""The predictor kinds: what they recover, how they compare, and their JSON params."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np
import pytest

from latency_db.errors import ValidationError
from latency_db.predictors import (
    PREDICTOR_KINDS,
    ArchitectureFeatures,
    LatencyPredictor,
    LayerTable,
    LinearPredictor,
    MlpPredictor,
    encode_architectures,
    holdout_metrics,
    layer_table,
    load_predictor,
)
from latency_db.predictors.ensemble import TrainingConfig
from latency_db.spaces import SearchSpace, get_space

QUICK = TrainingConfig(steps=30)


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return get_space("proxyless", resolution=32, width_mult=0.35, num_classes=10)


@pytest.fixture(scope="module")
def lut_table(space: SearchSpace) -> LayerTable:
    rng = np.random.default_rng(0)
    return layer_table(space, {k: float(rng.uniform(0.1, 2.0)) for k in space.all_op_keys()})


def random_indices(space: SearchSpace, n: int, seed: int) -> np.ndarray:
    return encode_architectures(space, [space.sample(seed * 100_000 + i) for i in range(n)])


def true_table(table: LayerTable, seed: int) -> np.ndarray:
    """An additive table unlike the LUT: each entry off by up to 30%."""
    rng = np.random.default_rng(seed)
    return table.table_ms * rng.uniform(0.7, 1.3, size=table.table_ms.shape)


def per_layer(table: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return table[np.arange(indices.shape[1]), indices]


def fitted(kind: str, table: LayerTable, space: SearchSpace) -> LatencyPredictor:
    indices = random_indices(space, 60, seed=1)
    y = table.total_ms(indices) * np.random.default_rng(2).uniform(0.9, 1.2, size=60)
    if kind == "mlp":
        return MlpPredictor.fit(
            ArchitectureFeatures.of_lut(table), indices, y, seed=0, config=QUICK
        )
    return PREDICTOR_KINDS[kind].fit(ArchitectureFeatures.of_lut(table), indices, y, seed=0)


def test_lut_predictor_is_the_lut_sum(space: SearchSpace, lut_table: LayerTable) -> None:
    indices = random_indices(space, 40, seed=3)
    mean, std = fitted("lut", lut_table, space).predict(indices)
    np.testing.assert_allclose(mean, lut_table.total_ms(indices))
    assert (std == 0).all()


def test_ridge_recovers_an_additive_table_from_noiseless_data(
    space: SearchSpace, lut_table: LayerTable
) -> None:
    truth = true_table(lut_table, seed=4)
    train, test = random_indices(space, 400, seed=5), random_indices(space, 200, seed=6)
    bias = 2.5
    model = LinearPredictor.fit(
        ArchitectureFeatures.of_lut(lut_table),
        train,
        bias + per_layer(truth, train).sum(axis=1),
        seed=0,
    )
    predicted, _ = model.predict(test)
    np.testing.assert_allclose(predicted, bias + per_layer(truth, test).sum(axis=1), rtol=1e-5)
    # Only differences within a layer are identifiable from whole networks.
    mask = lut_table.layout.mask
    fitted_contrasts = (model.table.table_ms - model.table.table_ms[:, :1])[mask]
    true_contrasts = (truth - truth[:, :1])[mask]
    np.testing.assert_allclose(fitted_contrasts, true_contrasts, atol=1e-4)
    assert model.ridge_lambda <= 1e-5 * train.shape[0]  # noiseless data: the least penalty


def test_ridge_stays_at_the_lut_with_little_data(space: SearchSpace, lut_table: LayerTable) -> None:
    """Two measurements of networks 20% slower than the LUT: a bias, not a new table."""
    indices = random_indices(space, 2, seed=7)
    model = LinearPredictor.fit(
        ArchitectureFeatures.of_lut(lut_table), indices, 1.2 * lut_table.total_ms(indices), seed=0
    )
    test = random_indices(space, 100, seed=8)
    lut_ms = lut_table.total_ms(test)
    predicted, _ = model.predict(test)
    assert np.corrcoef(predicted, lut_ms)[0, 1] > 0.99


def test_mlp_beats_linear_on_a_non_additive_latency(
    space: SearchSpace, lut_table: LayerTable
) -> None:
    """Latency = additive part x exp(additive part): multiplicative layer interactions."""
    truth = true_table(lut_table, seed=9)
    factors = np.random.default_rng(10).normal(0.0, 0.15, size=truth.shape)

    def latency(indices: np.ndarray) -> np.ndarray:
        additive = 3.0 + per_layer(truth, indices).sum(axis=1)
        return additive * np.exp(per_layer(factors, indices).sum(axis=1))

    train, test = random_indices(space, 300, seed=11), random_indices(space, 300, seed=12)
    linear = LinearPredictor.fit(
        ArchitectureFeatures.of_lut(lut_table), train, latency(train), seed=0
    )
    mlp = MlpPredictor.fit(ArchitectureFeatures.of_lut(lut_table), train, latency(train), seed=0)
    linear_metrics = holdout_metrics(linear.predict(test)[0], latency(test))
    mlp_mean, mlp_std = mlp.predict(test)
    mlp_metrics = holdout_metrics(mlp_mean, latency(test))
    assert mlp_metrics["rmse_ms"] < 0.5 * linear_metrics["rmse_ms"]  # type: ignore[operator]
    assert mlp_metrics["kendall_tau"] > linear_metrics["kendall_tau"] + 0.05  # type: ignore[operator]
    assert (mlp_std > 0).all()


@pytest.mark.parametrize("kind", ["lut", "linear", "mlp", "gbdt"])
def test_params_round_trip_through_json(
    kind: str, space: SearchSpace, lut_table: LayerTable
) -> None:
    model = fitted(kind, lut_table, space)
    params = json.loads(json.dumps(model.to_params()))
    assert params["kind"] == kind and params["space"] == space.ref
    loaded = load_predictor(params)
    assert type(loaded) is type(model)
    test = random_indices(space, 50, seed=13)
    for a, b in zip(model.predict(test), loaded.predict(test), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_learned_kinds_fit_whole_networks_without_a_lookup_table(
    kind: str, space: SearchSpace, lut_table: LayerTable
) -> None:
    """One-hot features alone recover an additive latency; params round-trip; a ``lut``
    predictor without a table is refused with what to do."""
    whole = ArchitectureFeatures(space.ref, lut_table.layout, None)
    truth = true_table(lut_table, seed=4)
    train, test = random_indices(space, 300, seed=5), random_indices(space, 100, seed=6)
    config = {"config": QUICK} if kind == "mlp" else {}
    model = PREDICTOR_KINDS[kind].fit(
        whole, train, 1.0 + per_layer(truth, train).sum(axis=1), seed=0, **config
    )
    predicted, _ = model.predict(test)
    assert holdout_metrics(predicted, 1.0 + per_layer(truth, test).sum(axis=1))["within10_pct"] > 90
    params = json.loads(json.dumps(model.to_params()))
    assert params.get("lut_table_ms", params.get("lut_scale")) is None
    np.testing.assert_array_equal(load_predictor(params).predict(test)[0], predicted)
    if kind == "mlp":
        with pytest.raises(ValidationError, match="layer_counts"):
            load_predictor({**params, "layer_counts": [0, 2]})
    with pytest.raises(ValidationError, match=r"complete lookup table.*hwnas lut build"):
        PREDICTOR_KINDS["lut"].fit(whole, train, np.ones(300), seed=0)


def test_bad_params_are_rejected(space: SearchSpace, lut_table: LayerTable) -> None:
    params = fitted("mlp", lut_table, space).to_params()
    with pytest.raises(ValidationError, match="unknown predictor kind 'tree'"):
        load_predictor({**params, "kind": "tree"})
    with pytest.raises(ValidationError, match="feature_mean"):
        load_predictor({**params, "feature_mean": params["feature_mean"][:-1]})
    layers = [{**params["layers"][0], "bias": [[0.0]]}, *params["layers"][1:]]
    with pytest.raises(ValidationError, match=r"layers\[0\].bias"):
        load_predictor({**params, "layers": layers})
    linear = fitted("linear", lut_table, space).to_params()
    with pytest.raises(ValidationError, match=r"table_ms\[2\]"):
        load_predictor({**linear, "table_ms": [[1.0], [2.0], [None]]})
    with pytest.raises(ValidationError, match="bias_ms"):
        load_predictor({**linear, "bias_ms": "1"})


def _lines_run_in_predictors(call: Callable[[], Any]) -> int:
    """How many source lines of latency_db/predictors run during ``call``."""
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line" and "latency_db/predictors/" in frame.f_code.co_filename:
            count += 1
        return trace

    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("kind", ["lut", "linear", "mlp", "gbdt"])
def test_prediction_is_vectorized(kind: str, space: SearchSpace, lut_table: LayerTable) -> None:
    """Predicting 1000 architectures runs exactly the lines that predicting 10 runs."""
    model = fitted(kind, lut_table, space)
    pool = random_indices(space, 1000, seed=14)
    few = _lines_run_in_predictors(lambda: model.predict(pool[:10]))
    many = _lines_run_in_predictors(lambda: model.predict(pool))
    assert few == many > 0
