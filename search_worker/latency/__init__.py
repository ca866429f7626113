"""Latency predictors in the search: differentiable E[LAT] and the RELAX surrogate g(zeta)."""

from __future__ import annotations

from search_worker.latency.additive import AdditiveLatency
from search_worker.latency.differentiable import DifferentiableLatency, masked_softmax
from search_worker.latency.loading import latency_model, latency_model_from_params
from search_worker.latency.mlp import MlpLatency

__all__ = [
    "AdditiveLatency",
    "DifferentiableLatency",
    "MlpLatency",
    "latency_model",
    "latency_model_from_params",
    "masked_softmax",
]
