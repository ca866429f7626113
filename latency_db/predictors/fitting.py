"""Fit any predictor kind to whole-network measurements with a seeded holdout; load stored ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from latency_db.errors import ValidationError
from latency_db.predictors.base import LatencyPredictor
from latency_db.predictors.encoding import (
    FloatArray,
    IntArray,
    LayerTable,
    encode_architectures,
    layer_table,
)
from latency_db.predictors.features import ArchitectureFeatures
from latency_db.predictors.gbdt import GbdtPredictor
from latency_db.predictors.linear import LinearPredictor
from latency_db.predictors.lut import LutPredictor
from latency_db.predictors.metrics import holdout_metrics
from latency_db.predictors.mlp import MlpPredictor
from latency_db.spaces import SearchSpace

PREDICTOR_KINDS: dict[str, type[LatencyPredictor]] = {
    cls.kind: cls for cls in (LutPredictor, LinearPredictor, MlpPredictor, GbdtPredictor)
}
MIN_TRAINING_POINTS = 2  # for the kinds that learn from measurements
AUTO = "auto"
AUTO_CANDIDATES = ("linear", "mlp", "gbdt")
AUTO_FOLDS = 5


@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted predictor, its JSON params, and how well it predicts.

    ``metrics["evaluated_on"]`` says whether metrics and calibration points come from the
    holdout (``"holdout"``) or, when the holdout is empty, from the training points
    (``"train"``); a ``lut`` predictor fit without measurements has ``{"n": 0,
    "evaluated_on": None}`` and no calibration. ``calibration`` is plain JSON:
    ``{"architectures": [str], "predicted_ms": [float], "measured_ms": [float]}``.
    """

    predictor: LatencyPredictor
    params: dict[str, Any]
    metrics: dict[str, Any]
    calibration: dict[str, list[Any]] | None
    train_positions: tuple[int, ...]  # positions in the inputs used for fitting
    holdout_positions: tuple[int, ...]


def fit_predictor(
    kind: str,
    space: SearchSpace,
    lut: Mapping[str, float],
    architectures: Sequence[str | Sequence[str]],
    latencies_ms: Sequence[float],
    holdout: float = 0.2,
    seed: int = 0,
    sources: Sequence[LayerTable] = (),
) -> FitResult:
    """Fit ``kind`` on a seeded random (1 - holdout) share of the measurements; the lookup
    table ``lut`` joins the features only if it has every op key of the space
    (``metrics["lut_features"]``). Kind ``auto`` fits the candidate with the least
    cross-validated MAPE on the training share and records the scores (``metrics["auto"]``).
    Other devices' tables ``sources`` make a ``linear`` fit a few-shot transfer."""
    if sources and kind != LinearPredictor.kind:
        raise ValidationError(f"transfer from source predictors fits kind 'linear', not {kind!r}")
    table_only = kind != AUTO and _predictor_class(kind) is LutPredictor
    y = np.asarray(latencies_ms, dtype=np.float64)
    if y.ndim != 1 or y.size != len(architectures):
        raise ValidationError(
            f"{len(architectures)} architectures but latencies of shape {list(y.shape)}"
        )
    if not (np.isfinite(y).all() and (y > 0).all()):
        raise ValidationError("latencies_ms must be finite and positive")
    if not 0.0 <= holdout < 1.0:
        raise ValidationError(f"holdout must be in [0, 1), got {holdout}")
    features = (
        ArchitectureFeatures.of_lut(layer_table(space, lut))
        if table_only
        else ArchitectureFeatures.of_space(space, lut, sources)
    )
    indices = encode_architectures(space, architectures)

    order = np.random.default_rng(seed).permutation(y.size)
    n_holdout = round(holdout * y.size)
    held, train = np.sort(order[:n_holdout]), np.sort(order[n_holdout:])
    if not table_only and train.size < MIN_TRAINING_POINTS:
        raise ValidationError(
            f"a {kind} predictor needs at least {MIN_TRAINING_POINTS} training measurements, "
            f"got {train.size}"
        )
    chosen: dict[str, Any] = {}
    if kind == AUTO:
        chosen = {"auto": choose_kind(features, indices[train], y[train], seed)}
        kind = chosen["auto"]["chosen"]
    predictor = PREDICTOR_KINDS[kind].fit(features, indices[train], y[train], seed=seed)

    positions = (tuple(int(i) for i in train), tuple(int(i) for i in held))
    evaluated = held if held.size else train
    if not evaluated.size:
        return FitResult(
            predictor, predictor.to_params(), {"n": 0, "evaluated_on": None}, None, *positions
        )
    predicted, _ = predictor.predict(indices[evaluated])
    metrics: dict[str, Any] = {
        **holdout_metrics(predicted, y[evaluated]),
        "evaluated_on": "holdout" if held.size else "train",
        "lut_features": features.lut is not None,
        **chosen,
    }
    calibration: dict[str, list[Any]] = {
        "architectures": [space.format(architectures[i]) for i in evaluated],
        "predicted_ms": predicted.tolist(),
        "measured_ms": y[evaluated].tolist(),
    }
    return FitResult(predictor, predictor.to_params(), metrics, calibration, *positions)


def choose_kind(
    features: ArchitectureFeatures,
    indices: IntArray,
    latencies_ms: FloatArray,
    seed: int,
    candidates: Sequence[str] = AUTO_CANDIDATES,
) -> dict[str, Any]:
    """``{"chosen", "cv_mape_pct": {kind: MAPE}, "folds"}``: the candidate kind with the least
    MAPE over seeded K-fold cross-validation on these points (first on ties)."""
    n = latencies_ms.size
    if n < AUTO_FOLDS:
        raise ValidationError(
            f"auto compares kinds by {AUTO_FOLDS}-fold cross-validation and needs at least "
            f"{AUTO_FOLDS} training measurements, got {n}"
        )
    folds = np.array_split(np.random.default_rng(seed).permutation(n), AUTO_FOLDS)
    scores: dict[str, float] = {}
    for kind in candidates:
        errors = []
        for fold in folds:
            train = np.setdiff1d(np.arange(n), fold)
            model = PREDICTOR_KINDS[kind].fit(
                features, indices[train], latencies_ms[train], seed=seed
            )
            predicted, _ = model.predict(indices[fold])
            errors.append(np.abs(predicted - latencies_ms[fold]) / latencies_ms[fold])
        scores[kind] = float(100.0 * np.concatenate(errors).mean())
    return {
        "chosen": min(scores, key=scores.__getitem__),
        "cv_mape_pct": scores,
        "folds": AUTO_FOLDS,
    }


def load_predictor(params: Mapping[str, Any]) -> LatencyPredictor:
    """Rebuild a predictor of any kind from its stored ``to_params()`` output."""
    if not isinstance(params, Mapping):
        raise ValidationError("predictor params must be a JSON object")
    return _predictor_class(params.get("kind")).from_params(params)


def _predictor_class(kind: object) -> type[LatencyPredictor]:
    if not isinstance(kind, str) or kind not in PREDICTOR_KINDS:
        raise ValidationError(
            f"unknown predictor kind {kind!r} (known: {', '.join(sorted(PREDICTOR_KINDS))})"
        )
    return PREDICTOR_KINDS[kind]
