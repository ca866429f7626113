"""Gumbel-max sampling, its softmax relaxation and the conditional relaxation given a sample.

For categorical logits with probabilities p, z = log p + G (G standard Gumbel) gives
b = argmax z ~ Cat(p), and softmax(z / tau) is the Concrete / Gumbel-softmax relaxation (Jang
et al., ICLR 2017; Maddison et al., ICLR 2017). The conditional sample z~ ~ p(z | b) follows
REBAR (Tucker et al., NeurIPS 2017, appendix) as written for categoricals in RELAX (Grathwohl
et al., ICLR 2018, appendix B): with v ~ U(0, 1)^K,
z~_b = -log(-log v_b) and z~_k = -log(-log v_k / p_k - log v_b) for k != b, so that
argmax z~ = b always.
"""

from __future__ import annotations

import torch

from search_worker.latency import masked_softmax
from search_worker.search.distribution import masked_log_softmax

_TINY = 1e-10


def uniform(shape: torch.Size | tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """U(0, 1) draws kept away from 0 and 1 so that log(-log u) is finite."""
    return torch.rand(shape, generator=generator).clamp(_TINY, 1.0 - 1e-7)


def gumbel(shape: torch.Size | tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return -torch.log(-torch.log(uniform(shape, generator)))


def perturbed(logits: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = log p + G for given Gumbel noise G (same shape as logits); padded entries -inf."""
    return (masked_log_softmax(logits, mask) + noise).masked_fill(~mask, float("-inf"))


def conditional_perturbed(
    logits: torch.Tensor, mask: torch.Tensor, sample: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """z~ ~ p(z | argmax z = sample) for op indices ``sample`` [..., L]; differentiable in
    the logits."""
    shape = torch.broadcast_shapes(logits.shape, (*sample.shape, logits.shape[-1]))
    v = uniform(shape, generator)
    p = masked_log_softmax(logits, mask).exp().expand(shape).clamp_min(_TINY)
    chosen = torch.zeros(shape, dtype=torch.bool).scatter(-1, sample.unsqueeze(-1), True)
    log_v_b = torch.log(v.gather(-1, sample.unsqueeze(-1)))  # [..., L, 1]
    top = -torch.log(-torch.log(v))
    others = -torch.log(-torch.log(v) / p - log_v_b)
    return torch.where(chosen, top, others).masked_fill(~mask, float("-inf"))


def relaxed(z: torch.Tensor, tau: float, mask: torch.Tensor) -> torch.Tensor:
    """softmax(z / tau) over each layer's candidates: soft one-hot rows [..., L, K]."""
    return masked_softmax(z / tau, mask)


def straight_through(soft: torch.Tensor) -> torch.Tensor:
    """The one-hot of argmax in the forward pass, the gradient of ``soft`` backward (GDAS)."""
    hard = torch.zeros_like(soft).scatter(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
    return hard - soft.detach() + soft
