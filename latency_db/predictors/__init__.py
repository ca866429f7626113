"""Latency predictors of whole architectures (design section 5), numpy and LightGBM (no torch).

Kinds: ``lut`` (sum of lookup-table entries), ``linear`` (per-(layer, op) table fit by ridge
regression towards the LUT, or towards 0 without one) and ``mlp`` (an MLP ensemble on log
latency) and ``gbdt`` (LightGBM trees correcting ``linear``, not differentiable); the
learned kinds fit on whole-network measurements alone where the device has no
complete lookup table. All map op indices
[n, L] to (mean_ms, std_ms) and round-trip through plain-JSON params.
"""

from __future__ import annotations

from latency_db.predictors.base import LatencyPredictor
from latency_db.predictors.encoding import (
    LayerTable,
    Layout,
    encode_architectures,
    layer_table,
)
from latency_db.predictors.features import ArchitectureFeatures
from latency_db.predictors.fitting import (
    PREDICTOR_KINDS,
    FitResult,
    fit_predictor,
    load_predictor,
)
from latency_db.predictors.gbdt import GbdtPredictor
from latency_db.predictors.linear import LinearPredictor
from latency_db.predictors.lut import LutPredictor
from latency_db.predictors.metrics import holdout_metrics, kendall_tau_b
from latency_db.predictors.mlp import MlpPredictor
from latency_db.predictors.sampling import most_uncertain, nearest_budget

__all__ = [
    "PREDICTOR_KINDS",
    "ArchitectureFeatures",
    "FitResult",
    "GbdtPredictor",
    "LatencyPredictor",
    "LayerTable",
    "Layout",
    "LinearPredictor",
    "LutPredictor",
    "MlpPredictor",
    "encode_architectures",
    "fit_predictor",
    "holdout_metrics",
    "kendall_tau_b",
    "layer_table",
    "load_predictor",
    "most_uncertain",
    "nearest_budget",
]
