"""The ``linear`` predictor: g(z) = b + sum_l l[layer, z_l], fit to whole-network latencies.

UNAS (Vahdat et al., CVPR 2020) and FBNet (Wu et al., CVPR 2019) model latency this way. The
fit is ridge regression shrunk towards the lookup table (design section 5):

    minimise ||y - b - X l||^2 + lambda ||l - c l_lut||^2,  b unpenalised,

X the one-hot rows, and c the LUT's calibration on this device: the least-squares slope of
y against the LUT sum (a LUT over-predicts whole networks by a roughly constant factor, as
fusion and per-call overheads go, so c l_lut is the better anchor). With few measurements
the table stays near the calibrated LUT (plus a fitted bias for the overheads it misses);
with many, the data win. The split of latency between the
layers' constant parts and b is not identifiable from whole networks; the penalty resolves it
by staying closest to the LUT. Without a lookup table the anchor is 0: one-hot ridge
regression on whole-network latencies alone. With source devices' tables (few-shot
transfer, :mod:`latency_db.predictors.transfer`) the anchor is their non-negative
combination fit to these measurements, which takes precedence over the LUT. lambda is
chosen by seeded K-fold cross-validation over a log grid scaled by the training size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from latency_db.errors import ValidationError
from latency_db.predictors.additive import AdditivePredictor
from latency_db.predictors.base import number
from latency_db.predictors.encoding import FloatArray, IntArray, LayerTable, is_finite_number
from latency_db.predictors.features import ArchitectureFeatures
from latency_db.predictors.transfer import source_anchor

LAMBDA_GRID = tuple(10.0**k for k in range(-6, 3))  # times the number of training points
FOLDS = 5


@dataclass(frozen=True, eq=False)
class LinearPredictor(AdditivePredictor):
    """Additive model fit by LUT-anchored ridge regression.

    Params: those of :class:`AdditivePredictor` plus ``"ridge_lambda"``, ``"lut_scale"``
    and ``"source_weights"`` (the penalty, the LUT calibration c and the transfer
    combination's weights, for the record; prediction needs none of them; ``lut_scale`` is
    null for a fit not anchored on a lookup table, ``source_weights`` for one without
    sources).
    """

    kind: ClassVar[str] = "linear"
    ridge_lambda: float
    lut_scale: float | None
    source_weights: tuple[float, ...] | None = None

    @classmethod
    def fit(
        cls,
        features: ArchitectureFeatures,
        indices: IntArray,
        latencies_ms: FloatArray,
        *,
        seed: int,
    ) -> LinearPredictor:
        layout = features.layout
        x = layout.one_hot(indices)
        scale: float | None = None
        source_weights: tuple[float, ...] | None = None
        prior = np.zeros(layout.width)
        if features.sources:
            anchor = source_anchor(features.sources, indices, latencies_ms)
            source_weights = anchor.weights
            prior = anchor.table.table_ms[layout.mask]
        elif features.lut is not None:
            lut_ms = features.lut.table_ms[layout.mask]
            scale = lut_scale(x @ lut_ms, latencies_ms)
            prior = scale * lut_ms
        lam = _choose_lambda(x, latencies_ms, prior, seed)
        bias, weights = ridge_towards(x, latencies_ms, prior, lam)
        padded = np.zeros(layout.mask.shape)
        padded[layout.mask] = weights
        return cls(LayerTable(features.space_ref, layout, bias, padded), lam, scale, source_weights)

    def to_params(self) -> dict[str, Any]:
        return {
            **super().to_params(),
            "ridge_lambda": float(self.ridge_lambda),
            "lut_scale": None if self.lut_scale is None else float(self.lut_scale),
            "source_weights": None if self.source_weights is None else list(self.source_weights),
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> LinearPredictor:
        scale = params.get("lut_scale")
        if scale is not None and not is_finite_number(scale):
            raise ValidationError("predictor params: lut_scale must be a finite number or null")
        weights = params.get("source_weights")
        if weights is not None and not (
            isinstance(weights, list) and all(is_finite_number(w) for w in weights)
        ):
            raise ValidationError("predictor params: source_weights must be numbers or null")
        return cls(
            cls._parse_table(params),
            number(params, "ridge_lambda"),
            None if scale is None else float(scale),
            None if weights is None else tuple(float(w) for w in weights),
        )


def lut_scale(lut_sum: FloatArray, y: FloatArray) -> float:
    """Slope c of the least-squares line y = a + c * lut_sum; 1 where it is not a positive,
    determined number (fewer than 3 points, or no spread in the LUT sums)."""
    if y.size < 3 or np.ptp(lut_sum) <= 1e-12 * max(1.0, float(np.abs(lut_sum).max())):
        return 1.0
    slope = float(np.polyfit(lut_sum, y, 1)[0])
    return slope if np.isfinite(slope) and slope > 0 else 1.0


def ridge_towards(
    x: FloatArray, y: FloatArray, prior: FloatArray, lam: float
) -> tuple[float, FloatArray]:
    """(b, l) minimising ||y - b - x l||^2 + lam ||l - prior||^2 (b unpenalised, lam > 0)."""
    residual = y - x @ prior
    x_mean, r_mean = x.mean(axis=0), residual.mean()
    xc = x - x_mean
    gram = xc.T @ xc + lam * np.eye(x.shape[1])
    delta = np.linalg.solve(gram, xc.T @ (residual - r_mean))
    return float(r_mean - x_mean @ delta), prior + delta


def _choose_lambda(x: FloatArray, y: FloatArray, prior: FloatArray, seed: int) -> float:
    """The grid value with the least K-fold validation squared error (first on ties)."""
    n = y.size
    folds = np.array_split(np.random.default_rng(seed).permutation(n), min(FOLDS, n))
    if len(folds) < 2:
        return LAMBDA_GRID[len(LAMBDA_GRID) // 2] * n
    errors = []
    for scale in LAMBDA_GRID:
        sse = 0.0
        for fold in folds:
            train = np.setdiff1d(np.arange(n), fold)
            bias, weights = ridge_towards(x[train], y[train], prior, scale * train.size)
            sse += float(np.sum((y[fold] - bias - x[fold] @ weights) ** 2))
        errors.append(sse)
    return LAMBDA_GRID[int(np.argmin(errors))] * n
