"""The ``mlp`` predictor in torch, evaluated at relaxed one-hots.

The relaxed features are the soft one-hot row and, with a lookup table, per layer
sum_j w_lj LUT(l, j); at a one-hot they are the numpy predictor's features.
"""

from __future__ import annotations

import torch

from latency_db.predictors.mlp import MlpPredictor
from search_worker.latency.differentiable import DifferentiableLatency, constant


class MlpLatency(DifferentiableLatency):
    """LUT(w) times the mean over members of exp(member output), as in the numpy predictor;
    LUT(w) = fixed + sum_l sum_j w_lj LUT(l, j) is the relaxed LUT latency (1 ms and no
    per-layer features for a predictor fit without a table)."""

    lut_table_ms: torch.Tensor | None
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(self, predictor: MlpPredictor, dtype: torch.dtype = torch.float32) -> None:
        super().__init__(predictor.layout)
        lut = predictor.features.lut
        self.register_buffer("lut_fixed_ms", constant(lut.fixed_ms if lut else 1.0, dtype))
        self.register_buffer("lut_table_ms", None if lut is None else constant(lut.table_ms, dtype))
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
        baseline = self.get_buffer("lut_fixed_ms")
        x = weights[..., self.mask]
        if self.lut_table_ms is not None:
            per_layer = (weights * self.lut_table_ms).sum(dim=-1)  # [..., L]
            x = torch.cat([x, per_layer], dim=-1)
            baseline = baseline + per_layer.sum(dim=-1)
        h = (x - self.feature_mean) / self.feature_std  # [..., D]
        h = torch.einsum("...d,mdh->...mh", h, self.get_buffer("weight_0"))
        h = h + self.get_buffer("bias_0")
        for k in range(1, self.depth):
            h = torch.einsum("...mh,mhk->...mk", h.relu(), self.get_buffer(f"weight_{k}"))
            h = h + self.get_buffer(f"bias_{k}")
        ratio = torch.exp(h[..., 0] * self.target_std + self.target_mean)  # [..., M]
        return baseline * ratio.mean(dim=-1)
