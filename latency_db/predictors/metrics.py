"""Accuracy of latency predictions against measurements (design section 5)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from latency_db.errors import ValidationError
from latency_db.predictors.encoding import FloatArray

_ROWS_PER_CHUNK = 1024  # Kendall tau: pairwise signs of this many rows at a time


def holdout_metrics(predicted_ms: ArrayLike, measured_ms: ArrayLike) -> dict[str, float | None]:
    """RMSE (ms), MAPE (%), share within +-5% / +-10% (%), Kendall tau-b, and ``n``.

    ``kendall_tau`` is ``None`` where it is undefined (fewer than two points, or all tied).
    """
    pred = np.asarray(predicted_ms, dtype=np.float64)
    meas = np.asarray(measured_ms, dtype=np.float64)
    if pred.ndim != 1 or pred.shape != meas.shape:
        raise ValidationError(
            f"predicted and measured must be 1-D of one length, got {pred.shape} and {meas.shape}"
        )
    if pred.size == 0:
        raise ValidationError("no points to evaluate")
    if not np.isfinite(pred).all():
        raise ValidationError("predicted latencies must be finite")
    if not (np.isfinite(meas).all() and (meas > 0).all()):
        raise ValidationError("measured latencies must be finite and positive")
    relative = np.abs(pred - meas) / meas
    return {
        "n": pred.size,
        "rmse_ms": float(np.sqrt(np.mean((pred - meas) ** 2))),
        "mape_pct": float(100.0 * relative.mean()),
        "within5_pct": float(100.0 * np.mean(relative <= 0.05)),
        "within10_pct": float(100.0 * np.mean(relative <= 0.10)),
        "kendall_tau": kendall_tau_b(pred, meas),
    }


def kendall_tau_b(x: FloatArray, y: FloatArray) -> float | None:
    """Kendall's tau-b, (n_c - n_d) / sqrt((n_0 - n_x)(n_0 - n_y)), by all pairs (O(n^2)).

    n_x and n_y count the pairs tied in x and in y (Kendall, Biometrika 1945).
    """
    concordance = 0.0
    untied_x = untied_y = 0
    for start in range(0, x.size, _ROWS_PER_CHUNK):
        sx = np.sign(x[start : start + _ROWS_PER_CHUNK, None] - x[None, :])
        sy = np.sign(y[start : start + _ROWS_PER_CHUNK, None] - y[None, :])
        concordance += float((sx * sy).sum())
        untied_x += int(np.count_nonzero(sx))
        untied_y += int(np.count_nonzero(sy))
    if untied_x == 0 or untied_y == 0:
        return None
    return concordance / math.sqrt(untied_x * untied_y)
