"""Differentiable latency models from stored predictor versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from latency_db.predictors import LatencyPredictor, MlpPredictor, load_predictor
from latency_db.predictors.additive import AdditivePredictor
from search_worker.latency.additive import AdditiveLatency
from search_worker.latency.differentiable import DifferentiableLatency
from search_worker.latency.mlp import MlpLatency


def latency_model(
    predictor: LatencyPredictor, dtype: torch.dtype = torch.float32
) -> DifferentiableLatency:
    """The torch counterpart of a fitted numpy predictor."""
    if isinstance(predictor, AdditivePredictor):
        return AdditiveLatency(predictor, dtype)
    if isinstance(predictor, MlpPredictor):
        return MlpLatency(predictor, dtype)
    raise TypeError(
        f"a {predictor.kind} predictor has no differentiable form: a search needs a lut, "
        "linear or mlp version"
    )


def latency_model_from_params(
    params: Mapping[str, Any], dtype: torch.dtype = torch.float32
) -> DifferentiableLatency:
    """From a predictor row's ``params`` (the ``to_params()`` JSON of any kind)."""
    return latency_model(load_predictor(params), dtype)
