"""Estimators that differentiate through a relaxed architecture.

- ``darts`` (Liu et al., ICLR 2019): w = softmax(alpha), the mixture of all paths; first-order
  gradient of the architecture loss through the mixture.
- ``gumbel`` (SNAS, Xie et al., ICLR 2019; FBNet, Wu et al., CVPR 2019): DARTS with w a
  Gumbel-softmax sample at an annealed temperature (reparameterized gradient).
- ``gdas`` (Dong and Yang, CVPR 2019): the hard one-hot of that sample with straight-through
  gradients; one path runs forward.

Latency enters as the predictor at the same relaxed w: at w = softmax(alpha) an additive
predictor gives ProxylessNAS' E[LAT]; at a Gumbel sample it is FBNet's sum_l sum_j w_lj LAT(l, j).
"""

from __future__ import annotations

import torch

from search_worker.nn.supernet import PathSelection
from search_worker.search.estimators.base import Estimator, register_estimator
from search_worker.search.problem import ArchitectureProblem, mixtures
from search_worker.search.relaxation import gumbel, perturbed, relaxed, straight_through


@register_estimator("darts")
class Darts(Estimator):
    def relaxed_weights(self, step: int, generator: torch.Generator) -> torch.Tensor:
        """The relaxed architecture w [L, K] (differentiable in alpha)."""
        return self.logits.probs()

    def selections(self, weights: torch.Tensor) -> list[PathSelection]:
        return mixtures(weights, self.counts)

    def weight_selections(self, step: int, generator: torch.Generator) -> list[PathSelection]:
        return self.selections(self.relaxed_weights(step, generator).detach())

    def backward(
        self, problem: ArchitectureProblem, step: int, generator: torch.Generator
    ) -> dict[str, float]:
        weights = self.relaxed_weights(step, generator)
        loss = problem.loss(self.selections(weights))
        latency = problem.latency(weights)
        problem.latency_loss.combine(loss, latency).backward()
        return {"arch_loss": float(loss.detach()), "relaxed_latency_ms": float(latency.detach())}


@register_estimator("gumbel")
class GumbelSoftmax(Darts):
    def relaxed_weights(self, step: int, generator: torch.Generator) -> torch.Tensor:
        alpha = self.logits.alpha
        noise = gumbel(alpha.shape, generator)
        return relaxed(
            perturbed(alpha, self.logits.mask, noise), self.config.tau(step), self.logits.mask
        )


@register_estimator("gdas")
class Gdas(GumbelSoftmax):
    def relaxed_weights(self, step: int, generator: torch.Generator) -> torch.Tensor:
        return straight_through(super().relaxed_weights(step, generator))

    def selections(self, weights: torch.Tensor) -> list[PathSelection]:
        """Only the chosen path runs, scaled by its straight-through gate (value 1)."""
        chosen = weights.detach().argmax(dim=-1).tolist()
        return [
            PathSelection.subset((j,), weights[layer, j : j + 1]) for layer, j in enumerate(chosen)
        ]
