"""The ``mlp`` predictor in torch, evaluated at relaxed one-hots.

The relaxed features are the soft one-hot row and, per layer, sum_j w_lj LUT(l, j); at a
one-hot they are the numpy predictor's features.
"""

from __future__ import annotations

import torch

from latency_db.predictors.mlp import MlpPredictor
from search_worker.latency.differentiable import DifferentiableLatency, constant


class MlpLatency(DifferentiableLatency):
    """LUT(w) times the mean over members of exp(member output), as in the numpy predictor;
    LUT(w) = fixed + sum_l sum_j w_lj LUT(l, j) is the relaxed LUT latency."""

    lut_fixed_ms: torch.Tensor
    lut_table_ms: torch.Tensor
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(self, predictor: MlpPredictor, dtype: torch.dtype = torch.float32) -> None:
        super().__init__(predictor.layout)
        self.register_buffer("lut_fixed_ms", constant(predictor.table.fixed_ms, dtype))
        self.register_buffer("lut_table_ms", constant(predictor.table.table_ms, dtype))
        self.register_buffer("feature_mean", constant(predictor.feature_mean, dtype))
        self.register_buffer("feature_std", constant(predictor.feature_std, dtype))
        self.register_buffer("target_mean", constant(predictor.target_mean, dtype))
        self.register_buffer("target_std", constant(predictor.target_std, dtype))
        ensemble = predictor.ensemble
        self.depth = len(ensemble.weights)
        for k, (w, b) in enumerate(zip(ensemble.weights, ensemble.biases, strict=True)):
            self.register_buffer(f"weight_{k}", constant(w, dtype))  # [M, d_in, d_out]
            self.register_buffer(f"bias_{k}", constant(b, dtype))  # [M, d_out]

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        per_layer = (weights * self.lut_table_ms).sum(dim=-1)  # [..., L]
        x = torch.cat([weights[..., self.mask], per_layer], dim=-1)
        h = (x - self.feature_mean) / self.feature_std  # [..., D]
        h = torch.einsum("...d,mdh->...mh", h, self.get_buffer("weight_0"))
        h = h + self.get_buffer("bias_0")
        for k in range(1, self.depth):
            h = torch.einsum("...mh,mhk->...mk", h.relu(), self.get_buffer(f"weight_{k}"))
            h = h + self.get_buffer(f"bias_{k}")
        ratio = torch.exp(h[..., 0] * self.target_std + self.target_mean)  # [..., M]
        return (self.lut_fixed_ms + per_layer.sum(dim=-1)) * ratio.mean(dim=-1)
