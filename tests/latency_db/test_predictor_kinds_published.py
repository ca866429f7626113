"""The learned kinds and ``auto`` on real rows of a published set (HW-NAS-Bench FBNet space,
an Essential Phone at batch 1, no lookup table), and which kinds a search may use."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from latency_db.errors import ValidationError
from latency_db.models import PredictorKind
from latency_db.predictors import (
    ArchitectureFeatures,
    GbdtPredictor,
    LinearPredictor,
    encode_architectures,
    fit_predictor,
    holdout_metrics,
    load_predictor,
)
from latency_db.predictors.selection import search_latency_model
from latency_db.repositories import predictors
from latency_db.spaces import SearchSpace, resolve_space

from .conftest import World

PHONE_CSV = Path(__file__).resolve().parents[1] / "data" / "help_fbnet_essential_ph_1_200.csv"


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return resolve_space("fbnet-cifar100")


@pytest.fixture(scope="module")
def phone() -> tuple[list[str], list[float]]:
    with PHONE_CSV.open() as f:
        rows = list(csv.DictReader(f))
    return [r["arch"] for r in rows], [float(r["latency_ms"]) for r in rows]


@pytest.mark.parametrize("kind", ["linear", "mlp", "gbdt"])
def test_each_kind_fits_and_predicts_real_rows(
    kind: str, space: SearchSpace, phone: tuple[list[str], list[float]]
) -> None:
    archs, latencies = phone
    result = fit_predictor(kind, space, {}, archs, latencies, seed=0)
    assert result.metrics["n"] == 40 and result.metrics["lut_features"] is False
    assert result.metrics["mape_pct"] < 15  # whole-ms phone timings, 160 training rows
    reloaded = load_predictor(json.loads(json.dumps(result.params)))
    x = encode_architectures(space, archs[:5])
    np.testing.assert_array_equal(reloaded.predict(x)[0], result.predictor.predict(x)[0])


def test_auto_picks_the_least_cross_validated_error_and_says_why(
    space: SearchSpace, phone: tuple[list[str], list[float]]
) -> None:
    archs, latencies = phone
    result = fit_predictor("auto", space, {}, archs, latencies, seed=0)
    why = result.metrics["auto"]
    scores = why["cv_mape_pct"]
    assert set(scores) == {"linear", "mlp", "gbdt"} and why["folds"] == 5
    assert why["chosen"] == min(scores, key=scores.__getitem__)
    assert result.predictor.kind == why["chosen"] == result.params["kind"]
    with pytest.raises(ValidationError, match="at least 5 training measurements"):
        fit_predictor("auto", space, {}, archs[:5], latencies[:5], holdout=0.2)


def test_gbdt_learns_an_interaction_a_per_layer_sum_cannot(space: SearchSpace) -> None:
    """Latency jumps when layers 0 and 1 both pick one of their later ops (a pair that
    spills the cache, say)."""
    rng = np.random.default_rng(0)
    x = encode_architectures(space, [space.sample(i) for i in range(600)])
    table = rng.uniform(0.5, 2.0, size=(x.shape[1], int(x.max()) + 1))
    y = 10 + table[np.arange(x.shape[1]), x].sum(axis=1) + 8.0 * ((x[:, 0] >= 4) & (x[:, 1] >= 4))
    features = ArchitectureFeatures.of_space(space, {})
    train, test = slice(0, 500), slice(500, None)
    linear = LinearPredictor.fit(features, x[train], y[train], seed=0)
    gbdt = GbdtPredictor.fit(features, x[train], y[train], seed=0)
    linear_w5 = holdout_metrics(linear.predict(x[test])[0], y[test])["within5_pct"]
    gbdt_w5 = holdout_metrics(gbdt.predict(x[test])[0], y[test])["within5_pct"]
    assert gbdt_w5 > linear_w5 + 20, (gbdt_w5, linear_w5)


def test_gbdt_params_are_checked(space: SearchSpace, phone: tuple[list[str], list[float]]) -> None:
    archs, latencies = phone
    params = fit_predictor("gbdt", space, {}, archs, latencies).params
    with pytest.raises(ValidationError, match="booster"):
        load_predictor({**params, "booster": "not a model"})
    with pytest.raises(ValidationError, match="floor_ms"):
        load_predictor({**params, "floor_ms": 0})
    with pytest.raises(ValidationError, match="base"):
        load_predictor({**params, "base": None})


def test_a_search_refuses_gbdt_by_name_and_passes_it_over(
    session: Session, world: World, space: SearchSpace
) -> None:
    where = {"session": session, "device": world.device, "runtime_config": world.runtime_config}
    common = {"training_measurement_ids": [], "seed": 0, "holdout_fraction": 0.2}
    trees = predictors.create_predictor(
        **where, space_ref=space.ref, kind="gbdt", params={}, metrics={"mape_pct": 1.0}, **common
    )
    mlp = predictors.create_predictor(
        **where, space_ref=space.ref, kind="mlp", params={}, metrics={"mape_pct": 2.0}, **common
    )
    chosen = search_latency_model(**where, space=space, batch_size=32)
    assert chosen["id"] == mlp.id and chosen["kind"] == PredictorKind.MLP.value
    with pytest.raises(ValidationError, match=r"no gradient.*differentiable"):
        search_latency_model(**where, space=space, batch_size=32, predictor_id=trees.id)
