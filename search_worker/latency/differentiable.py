"""A stored latency predictor as a differentiable function of relaxed architectures.

A relaxed architecture is a tensor w [..., L, K] with one (soft) one-hot row per searchable
layer, padded to the largest candidate count K; padded entries are ignored. A model plays
the two roles of design section 5:

- ``model(zeta)`` is g(zeta), the surrogate of the RELAX gradient estimator (Grathwohl et al.,
  ICLR 2018) that UNAS (Vahdat et al., CVPR 2020) uses for its latency term, evaluated at a
  relaxed sample zeta; at a one-hot it equals the numpy predictor's prediction;
- ``model.expected(alpha)`` evaluates it at p = softmax(alpha) per layer: for an additive
  predictor this is E[LAT] = b + sum_l sum_j p_lj F(l, j) of ProxylessNAS (Cai et al., ICLR
  2019); for the MLP it is the MLP at the mean encoding, a smooth stand-in for E[LAT].
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from latency_db.predictors import Layout


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where ``mask`` is true; masked entries get probability 0."""
    return logits.masked_fill(~mask, float("-inf")).softmax(dim=-1)


class DifferentiableLatency(nn.Module, ABC):
    """Latency in ms of relaxed architectures [..., L, K] -> [...]; constant buffers only."""

    mask: torch.Tensor  # [L, K] bool, true where a layer has a candidate

    def __init__(self, layout: Layout) -> None:
        super().__init__()
        self.register_buffer("mask", torch.as_tensor(layout.mask))

    @abstractmethod
    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        """g(w) for relaxed one-hots ``weights`` [..., L, K]."""

    def expected(self, logits: torch.Tensor) -> torch.Tensor:
        """The latency at p = masked softmax of architecture logits [..., L, K]."""
        return self(masked_softmax(logits, self.mask))


def constant(array: object, dtype: torch.dtype) -> torch.Tensor:
    """A buffer value, converted once from the predictor's float64 numbers."""
    return torch.as_tensor(array, dtype=dtype)
