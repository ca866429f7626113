"""``proxyless``: ProxylessNAS (Cai et al., ICLR 2019).

Weight step: one path sampled from p. Architecture step: two paths per layer sampled from p,
one active through a binary gate; the gates' gradients give the BinaryConnect gradient of the
pair's logits (:mod:`search_worker.search.binary_connect`), then the pair is rescaled so every
other op keeps its probability. Latency enters as the predictor's differentiable E[LAT] at
p = softmax(alpha), whose gradient reaches every logit.
"""

from __future__ import annotations

import torch

from search_worker.nn.supernet import PathSelection
from search_worker.search.binary_connect import gates, pair_gradient, rescale_pairs, sample_pairs
from search_worker.search.estimators.base import Estimator, register_estimator
from search_worker.search.problem import ArchitectureProblem


@register_estimator("proxyless")
class ProxylessNas(Estimator):
    _pairs: torch.Tensor | None = None
    _before: torch.Tensor | None = None

    def backward(
        self, problem: ArchitectureProblem, step: int, generator: torch.Generator
    ) -> dict[str, float]:
        alpha = self.logits.alpha
        pairs, active = sample_pairs(alpha, self.logits.mask, generator)
        gate = gates(active)
        selections = [PathSelection.subset(pairs[i].tolist(), gate[i]) for i in range(len(pairs))]
        loss = problem.loss(selections)
        latency = problem.latency(self.logits.probs())
        problem.latency_loss.combine(loss, latency).backward()
        gate_grads = torch.zeros_like(gate) if gate.grad is None else gate.grad
        bc_grad = pair_gradient(alpha, pairs, gate_grads)
        alpha.grad = bc_grad if alpha.grad is None else alpha.grad + bc_grad
        self._pairs, self._before = pairs, alpha.detach().clone()
        return {"arch_loss": float(loss.detach()), "expected_latency_ms": float(latency.detach())}

    def after_step(self) -> None:
        if self._pairs is not None and self._before is not None:
            rescale_pairs(self.logits.alpha.data, self._before, self._pairs)
