"""The architecture distribution: independent categorical logits alpha [L, K] per layer.

Layers may have fewer than K candidates; ``mask`` [L, K] marks the real ones and padded
entries never get probability. Op indices [..., L] index each layer's candidate list.
"""

from __future__ import annotations

import torch
from torch import nn

from latency_db.predictors import Layout


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log p over the last axis; padded entries are -inf."""
    return logits.masked_fill(~mask, float("-inf")).log_softmax(dim=-1)


def one_hot(indices: torch.Tensor, k: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Op indices [..., L] as one-hot rows [..., L, K]."""
    return nn.functional.one_hot(indices, k).to(dtype)


class ArchitectureLogits(nn.Module):
    """alpha [L, K] (zeros at start: uniform over each layer's candidates)."""

    mask: torch.Tensor

    def __init__(self, layout: Layout) -> None:
        super().__init__()
        self.layout = layout
        self.register_buffer("mask", torch.as_tensor(layout.mask))
        self.alpha = nn.Parameter(torch.zeros(layout.n_layers, layout.max_candidates))

    def log_probs(self) -> torch.Tensor:
        return masked_log_softmax(self.alpha, self.mask)

    def probs(self) -> torch.Tensor:
        return self.log_probs().exp()

    def sample(
        self, generator: torch.Generator, n: int | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """Op indices [L] (or [n, L]) drawn from the current distribution (flattened to
        softmax(alpha / temperature) with a temperature above 1)."""
        probs = masked_log_softmax(self.alpha.detach() / temperature, self.mask).exp()
        draws = torch.multinomial(
            probs, 1 if n is None else n, replacement=True, generator=generator
        )
        return draws[:, 0] if n is None else draws.t()

    def uniform_sample(self, generator: torch.Generator) -> torch.Tensor:
        """Op indices [L] drawn uniformly over each layer's candidates (SPOS-style)."""
        return torch.multinomial(self.mask.float(), 1, generator=generator)[:, 0]

    def argmax(self) -> list[int]:
        return [int(i) for i in self.log_probs().argmax(dim=-1)]

    def entropy(self) -> float:
        """Sum over layers of the entropy of each layer's categorical, in nats."""
        log_p = self.log_probs().detach()
        p = log_p.exp()
        return float(-(p * log_p.masked_fill(~self.mask, 0.0)).sum())
