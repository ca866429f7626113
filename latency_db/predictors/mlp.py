"""The ``mlp`` predictor: an MLP ensemble that corrects the LUT sum on the log scale.

Features of an architecture (:mod:`latency_db.predictors.features`): its one-hot row and,
where the device has a complete lookup table, the LUT latency of each layer's op, each
standardised with the training mean and std. The target is log latency, taken relative to
the LUT: a member learns r(z) = log(latency / LUT(z)) (standardised) and predicts
LUT(z) exp(r(z)), so an untrained correction falls back to the LUT, as the ``linear`` fit
does; without a table LUT(z) is 1 ms and the members learn log latency itself. The
prediction is the mean over members of their latencies, the uncertainty their standard
deviation. Sums of per-op latencies miss operator fusion and overheads (nn-Meter,
Zhang et al., MobiSys 2021); a model of the whole network can learn them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from latency_db.errors import ValidationError
from latency_db.predictors.base import LatencyPredictor, number
from latency_db.predictors.encoding import FloatArray, IntArray, LayerTable, Layout, ragged_table
from latency_db.predictors.ensemble import (
    DEFAULT_TRAINING,
    MlpEnsemble,
    TrainingConfig,
    train_ensemble,
)
from latency_db.predictors.features import ArchitectureFeatures

_MIN_STD = 1e-8  # a constant feature is centred, not scaled


@dataclass(frozen=True, eq=False)
class MlpPredictor(LatencyPredictor):
    """Params: ``{"kind": "mlp", "space", "layer_counts": [L],
    "lut_fixed_ms": float | null, "lut_table_ms": [[ms]] | null (null: fit without a table),
    "feature_mean": [D], "feature_std": [D], "target_mean": float, "target_std": float,
    "layers": [{"weight": [M][d_in][d_out], "bias": [M][d_out]}, ...]}`` (ReLU between
    layers, the last d_out is 1; the target is the standardised log of latency / LUT)."""

    kind: ClassVar[str] = "mlp"
    features: ArchitectureFeatures
    feature_mean: FloatArray
    feature_std: FloatArray
    target_mean: float
    target_std: float
    ensemble: MlpEnsemble

    @property
    def space_ref(self) -> str:
        return self.features.space_ref

    @property
    def layout(self) -> Layout:
        return self.features.layout

    def _predict(self, indices: IntArray) -> tuple[FloatArray, FloatArray]:
        x = (self.features.rows(indices) - self.feature_mean) / self.feature_std
        log_ratio = self.ensemble.forward(x) * self.target_std + self.target_mean  # [M, n]
        member_ms = self.features.baseline_ms(indices) * np.exp(log_ratio)
        return member_ms.mean(axis=0), member_ms.std(axis=0)

    @classmethod
    def fit(
        cls,
        features: ArchitectureFeatures,
        indices: IntArray,
        latencies_ms: FloatArray,
        *,
        seed: int,
        config: TrainingConfig = DEFAULT_TRAINING,
    ) -> MlpPredictor:
        x = features.rows(indices)
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std < _MIN_STD, 1.0, std)
        y = np.log(latencies_ms / features.baseline_ms(indices))
        y_mean, y_std = float(y.mean()), float(max(y.std(), _MIN_STD))
        ensemble = train_ensemble((x - mean) / std, (y - y_mean) / y_std, config, seed)
        return cls(features, mean, std, y_mean, y_std, ensemble)

    def to_params(self) -> dict[str, Any]:
        lut = self.features.lut
        return {
            "kind": self.kind,
            "space": self.space_ref,
            "layer_counts": list(self.layout.counts),
            "lut_fixed_ms": None if lut is None else float(lut.fixed_ms),
            "lut_table_ms": None if lut is None else self.layout.unpad(lut.table_ms),
            "feature_mean": self.feature_mean.tolist(),
            "feature_std": self.feature_std.tolist(),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "layers": [
                {"weight": w.tolist(), "bias": b.tolist()}
                for w, b in zip(self.ensemble.weights, self.ensemble.biases, strict=True)
            ],
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MlpPredictor:
        space = cls._check_kind(params)
        features = _features(space, params)
        n_features = features.width
        mean = _array(params.get("feature_mean"), (n_features,), "feature_mean")
        std = _array(params.get("feature_std"), (n_features,), "feature_std")
        if (std <= 0).any():
            raise ValidationError("mlp params: feature_std must be positive")
        return cls(
            features,
            mean,
            std,
            number(params, "target_mean"),
            number(params, "target_std"),
            _ensemble(params.get("layers"), n_features),
        )


def _features(space: str, params: Mapping[str, Any]) -> ArchitectureFeatures:
    """The layout, and the lookup table unless ``lut_table_ms`` is null."""
    if params.get("lut_table_ms") is None:
        counts = params.get("layer_counts")
        if not (isinstance(counts, list) and counts and all(_count(c) for c in counts)):
            raise ValidationError("mlp params: layer_counts must be a list of positive integers")
        return ArchitectureFeatures(space, Layout(tuple(counts)), None)
    layout, table = ragged_table(params.get("lut_table_ms"), "lut_table_ms")
    fixed_ms = number(params, "lut_fixed_ms")
    if fixed_ms <= 0 or (table < 0).any():
        raise ValidationError("mlp params: LUT latencies must be positive")
    return ArchitectureFeatures.of_lut(LayerTable(space, layout, fixed_ms, table))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _ensemble(layers: object, n_features: int) -> MlpEnsemble:
    """Stacked member weights from ``[{"weight": [M][d_in][d_out], "bias": [M][d_out]}]``."""
    if not isinstance(layers, list) or not layers:
        raise ValidationError("mlp params: layers must be a non-empty list")
    weights: list[FloatArray] = []
    biases: list[FloatArray] = []
    d_in, members = n_features, None
    for k, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise ValidationError(f"mlp params: layers[{k}] must be an object")
        w = _array(layer.get("weight"), (members, d_in, None), f"layers[{k}].weight")
        members, d_in = w.shape[0], w.shape[2]
        weights.append(w)
        biases.append(_array(layer.get("bias"), (members, d_in), f"layers[{k}].bias"))
    if d_in != 1:
        raise ValidationError(f"mlp params: the last layer has {d_in} outputs, expected 1")
    return MlpEnsemble(tuple(weights), tuple(biases))


def _array(value: object, shape: tuple[int | None, ...], name: str) -> FloatArray:
    """A finite float array of the given shape (``None``: any size) from nested lists."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"mlp params: {name} is not a numeric array") from None
    matches = array.ndim == len(shape) and all(
        want is None or got == want for got, want in zip(array.shape, shape, strict=True)
    )
    if not matches or not np.isfinite(array).all():
        raise ValidationError(f"mlp params: {name} must be finite numbers of shape {shape}")
    return array
