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
    return conditional_from(logits, mask, sample, torch.log(uniform(shape, generator)))


def conditional_from(
    logits: torch.Tensor, mask: torch.Tensor, sample: torch.Tensor, log_v: torch.Tensor
) -> torch.Tensor:
    """z~ of the module docstring from given log v (log-space, so that a v recovered by
    :func:`conditional_log_uniforms` never underflows); differentiable in the logits."""
    shape = log_v.shape
    p = masked_log_softmax(logits, mask).exp().expand(shape).clamp_min(_TINY)
    chosen = torch.zeros(shape, dtype=torch.bool).scatter(-1, sample.unsqueeze(-1), True)
    log_v_b = log_v.gather(-1, sample.unsqueeze(-1))  # [..., L, 1]
    top = -torch.log(-log_v)
    others = -torch.log(-log_v / p - log_v_b)
    return torch.where(chosen, top, others).masked_fill(~mask, float("-inf"))


def conditional_log_uniforms(
    logits: torch.Tensor, mask: torch.Tensor, sample: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    """The log v for which :func:`conditional_from` gives back ``z`` (with argmax z =
    ``sample``): log v_b = -exp(-z_b), log v_k = -p_k (exp(-z_k) - exp(-z_b)). Given b, z
    ~ p(z | b) makes these v uniform, so z itself is a draw of z~ (the tied variant of
    REBAR). No gradient; padded entries get log v = -1."""
    with torch.no_grad():
        p = masked_log_softmax(logits, mask).exp().expand(z.shape)
        chosen = torch.zeros(z.shape, dtype=torch.bool).scatter(-1, sample.unsqueeze(-1), True)
        e = torch.exp(-z)  # padded: exp(inf) = inf, replaced below
        e_b = e.gather(-1, sample.unsqueeze(-1))
        log_v = torch.where(chosen, -e_b.expand(z.shape), -p * (e - e_b))
        return log_v.masked_fill(~mask, -1.0)


def relaxed(z: torch.Tensor, tau: float, mask: torch.Tensor) -> torch.Tensor:
    """softmax(z / tau) over each layer's candidates: soft one-hot rows [..., L, K]."""
    return masked_softmax(z / tau, mask)


def straight_through(soft: torch.Tensor) -> torch.Tensor:
    """The one-hot of argmax in the forward pass, the gradient of ``soft`` backward (GDAS)."""
    hard = torch.zeros_like(soft).scatter(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
    return hard - soft.detach() + soft
