"""A latency model times a correction factor fitted on measurements (issue 17, defect 6).

A predictor fitted on uniformly random architectures can be off by a quarter where a search
goes (e.g. many ``zero`` layers), although its holdout error is small. UNAS (Vahdat et al.,
CVPR 2020) sidesteps this by using the *measured* latency of samples of the current
distribution; here the search's samples are measured the same way and the model is rescaled
to them: s g(w), with s the least-squares fit through the origin of measured on predicted.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from latency_db.predictors import Layout
from search_worker.latency.differentiable import DifferentiableLatency


class CorrectedLatency(DifferentiableLatency):
    """``scale * base(w)``; ``scale`` starts at 1 and is refitted by :meth:`fit`."""

    scale: torch.Tensor

    def __init__(self, base: DifferentiableLatency) -> None:
        super().__init__(Layout(tuple(int(n) for n in base.mask.sum(dim=1).tolist())))
        self.base = base
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        predicted = self.base(weights)
        return predicted * self.scale.to(predicted.dtype)

    def fit(self, predicted_ms: Sequence[float], measured_ms: Sequence[float]) -> float:
        """Least squares s = sum(m g) / sum(g^2) over pairs (g: the base model's prediction,
        m: the measurement); no pairs leave s unchanged. Returns s."""
        g = torch.tensor(predicted_ms, dtype=torch.float64)
        m = torch.tensor(measured_ms, dtype=torch.float64)
        if len(g) and float((g * g).sum()) > 0:
            self.scale.fill_(float((m * g).sum() / (g * g).sum()))
        return float(self.scale)
