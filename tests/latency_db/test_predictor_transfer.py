"""Few-shot transfer to a new device (issue 11) on real rows of a published set: the other
devices' tables, combined and adapted to k measurements of the target, beat a table fit from
those k rows alone; the reference architectures the service picks beat random picks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from latency_db.errors import ValidationError
from latency_db.predictors import (
    ArchitectureFeatures,
    LayerTable,
    LinearPredictor,
    encode_architectures,
    fit_predictor,
    holdout_metrics,
    load_predictor,
)
from latency_db.predictors.encoding import FloatArray, IntArray
from latency_db.predictors.transfer import reference_architectures, source_anchor
from latency_db.spaces import SearchSpace, resolve_space

DEVICES_CSV = Path(__file__).resolve().parents[1] / "data" / "help_fbnet_four_devices_600.csv"
TARGET = "gold_6240"
SOURCES = ("silver_4114", "samsung_a50", "1080ti_32")
TRAIN = slice(0, 400)  # sources fit here; the target's k rows are chosen here
TEST = slice(400, 600)


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return resolve_space("fbnet-cifar100")


@pytest.fixture(scope="module")
def published(space: SearchSpace) -> tuple[IntArray, dict[str, FloatArray]]:
    with DEVICES_CSV.open() as f:
        rows = list(csv.DictReader(f))
    x = encode_architectures(space, [r["arch"] for r in rows])
    return x, {d: np.array([float(r[d]) for r in rows]) for d in (TARGET, *SOURCES)}


@pytest.fixture(scope="module")
def tables(
    space: SearchSpace, published: tuple[IntArray, dict[str, FloatArray]]
) -> list[LayerTable]:
    x, y = published
    plain = ArchitectureFeatures.of_space(space, {})
    return [LinearPredictor.fit(plain, x[TRAIN], y[d][TRAIN], seed=0).table for d in SOURCES]


def _within10(model: LinearPredictor, x: IntArray, y: FloatArray) -> float:
    return float(holdout_metrics(model.predict(x[TEST])[0], y[TEST])["within10_pct"])


@pytest.mark.parametrize("k", [10, 20])
def test_transfer_beats_a_fit_from_scratch_on_the_same_k_rows(
    k: int,
    space: SearchSpace,
    published: tuple[IntArray, dict[str, FloatArray]],
    tables: list[LayerTable],
) -> None:
    x, y = published
    target = y[TARGET]
    rows = np.arange(400)[reference_architectures(tables, x[TRAIN], k)]
    assert len(set(rows.tolist())) == k
    adapted = LinearPredictor.fit(
        ArchitectureFeatures.of_space(space, {}, tables), x[rows], target[rows], seed=0
    )
    scratch = LinearPredictor.fit(
        ArchitectureFeatures.of_space(space, {}), x[rows], target[rows], seed=0
    )
    assert adapted.source_weights is not None and len(adapted.source_weights) == len(SOURCES)
    # The full-data baseline is ~99% within +-10% here; a CPU's narrow latency range lets a
    # table fit from k rows alone reach 64% (k = 10) and 74% (k = 20) by predicting the mean.
    assert _within10(adapted, x, target) >= 95.0
    assert _within10(adapted, x, target) >= _within10(scratch, x, target) + 20.0


def test_the_reference_architectures_are_more_informative_than_random_ones(
    published: tuple[IntArray, dict[str, FloatArray]], tables: list[LayerTable]
) -> None:
    """D-optimality: the chosen rows' information matrix (bias plus the sources' standardised
    predictions) has a larger determinant than that of any of 200 random draws."""
    x, _ = published
    totals = np.stack([t.total_ms(x[TRAIN]) for t in tables], axis=1)
    design = np.hstack([np.ones((400, 1)), (totals - totals.mean(0)) / totals.std(0)])

    def log_det(rows: IntArray) -> float:
        return float(np.linalg.slogdet(design[rows].T @ design[rows])[1])

    chosen = log_det(np.array(reference_architectures(tables, x[TRAIN], 10)))
    rng = np.random.default_rng(0)
    assert chosen > max(log_det(rng.choice(400, size=10, replace=False)) for _ in range(200))


def test_the_anchor_recovers_a_non_negative_combination(
    space: SearchSpace, published: tuple[IntArray, dict[str, FloatArray]], tables: list[LayerTable]
) -> None:
    x, _ = published
    first, second = tables[0].total_ms(x), tables[1].total_ms(x)
    anchor = source_anchor(tables[:2], x, 3.0 + 0.5 * first + 2.0 * second)
    np.testing.assert_allclose(anchor.weights, [0.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(anchor.table.total_ms(x), 3.0 + 0.5 * first + 2.0 * second)
    opposite = source_anchor(tables[:2], x, 100.0 - first)
    assert opposite.weights[0] == 0.0  # a negative weight is never used


def test_a_transferred_version_round_trips_and_bad_sources_are_refused(
    space: SearchSpace, published: tuple[IntArray, dict[str, FloatArray]], tables: list[LayerTable]
) -> None:
    x, y = published
    archs = [space.format(space.parse([int(i) for i in row])) for row in x[:30]]
    result = fit_predictor("linear", space, {}, archs, y[TARGET][:30].tolist(), sources=tables)
    params = json.loads(json.dumps(result.params))
    assert params["kind"] == "linear" and len(params["source_weights"]) == len(SOURCES)
    reloaded = load_predictor(params)
    np.testing.assert_allclose(reloaded.predict(x[:5])[0], result.predictor.predict(x[:5])[0])
    with pytest.raises(ValidationError, match="fits kind 'linear', not 'mlp'"):
        fit_predictor("mlp", space, {}, archs, y[TARGET][:30].tolist(), sources=tables)
    other = resolve_space("proxyless")
    with pytest.raises(ValidationError, match="cannot transfer to"):
        ArchitectureFeatures.of_space(other, {}, tables)
    with pytest.raises(ValidationError, match="k must be between 1 and the 5 candidates"):
        reference_architectures(tables, x[:5], 6)
