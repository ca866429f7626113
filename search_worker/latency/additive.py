"""The ``lut`` and ``linear`` predictors in torch: b + sum_l sum_j w_lj T[l, j]."""

from __future__ import annotations

import torch

from latency_db.predictors.additive import AdditivePredictor
from search_worker.latency.differentiable import DifferentiableLatency, constant


class AdditiveLatency(DifferentiableLatency):
    """Linear in the relaxed one-hots, so at p = softmax(alpha) it is exactly E[LAT]."""

    bias_ms: torch.Tensor
    table_ms: torch.Tensor

    def __init__(self, predictor: AdditivePredictor, dtype: torch.dtype = torch.float32) -> None:
        super().__init__(predictor.layout)
        self.register_buffer("bias_ms", constant(predictor.table.fixed_ms, dtype))
        self.register_buffer("table_ms", constant(predictor.table.table_ms, dtype))

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        return self.bias_ms + (weights * self.table_ms).sum(dim=(-2, -1))
