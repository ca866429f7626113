"""Surrogate objectives whose autograd gradient w.r.t. the logits is a gradient estimator.

Each returns a tensor S (one per sample) with E[grad S] = grad_alpha E_{b ~ p_alpha}[f(b)]:

- :func:`score_function`: REINFORCE (Williams, 1992) with a baseline,
  grad S = w (f(b) - baseline) grad log p(b);
- :func:`relax`: RELAX (Grathwohl et al., ICLR 2018), used by UNAS (Vahdat et al., CVPR 2020)
  with REBAR's control variate (Tucker et al., NeurIPS 2017):
  grad S = [(f(b) - c(z~)) grad log p(b) - grad c(z~)] + grad c(z), z = log p + G, z~ ~
  p(z | b), c(.) = surrogate(softmax(. / tau)). Its two parts are unbiased on their own:
  :func:`relax_correction` (the bracket, which needs f(b)) and :func:`reparameterized`
  (grad c(z), which does not), so a delayed f(b) can correct a c(z) applied earlier;
- :func:`tied_relax`: the same with z~ := z, one evaluation of c instead of two (UNAS' cheaper
  variant when c is the all-path network). Given b = argmax z, z is itself a draw from p(z | b),
  so it can stand for z~; only the derivative differs: grad c(z) follows z = log p + G with G
  fixed, grad c(z~) follows z~(v, b) with the v that gives back z. One forward and one
  backward pass of c give both: grad S = (f(b) - c(z)) grad log p(b) + dc/dz (dz/dalpha -
  dz~/dalpha). Each term keeps its expectation, so the sum stays unbiased.

``w`` weights a sample's score-function terms: p_now(b) / p_then(b) for a sample b drawn under
earlier logits (1 on-policy), over the probability that b was kept at all.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from search_worker.search.distribution import masked_log_softmax
from search_worker.search.relaxation import (
    conditional_from,
    conditional_log_uniforms,
    conditional_perturbed,
    perturbed,
    relaxed,
)

Surrogate = Callable[[torch.Tensor], torch.Tensor]  # soft one-hots [..., L, K] -> [...]


def log_prob(logits: torch.Tensor, mask: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """log p(b) summed over layers: logits [..., L, K], op indices [..., L] -> [...]."""
    log_p = masked_log_softmax(logits, mask).expand(*sample.shape, -1)
    return log_p.gather(-1, sample.unsqueeze(-1)).squeeze(-1).sum(dim=-1)


def score_function(
    logits: torch.Tensor,
    mask: torch.Tensor,
    sample: torch.Tensor,
    reward_gap: torch.Tensor | float,
    weight: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """S = w (f(b) - baseline) log p(b), with ``reward_gap`` = f(b) - baseline (constant)."""
    gap = torch.as_tensor(reward_gap).detach()
    return torch.as_tensor(weight).detach() * gap * log_prob(logits, mask, sample)


def relax(
    logits: torch.Tensor,
    mask: torch.Tensor,
    sample: torch.Tensor,
    noise: torch.Tensor,
    loss: torch.Tensor | float,
    surrogate: Surrogate,
    tau: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """The RELAX surrogate for a sample b (op indices) drawn with Gumbel ``noise`` G: its
    correction plus c(z) at z = log p + G, the z that drew b."""
    return relax_correction(
        logits, mask, sample, loss, surrogate, tau, generator
    ) + reparameterized(logits, mask, noise, surrogate, tau)


def tied_relax(
    logits: torch.Tensor,
    mask: torch.Tensor,
    sample: torch.Tensor,
    noise: torch.Tensor,
    loss: torch.Tensor | float,
    surrogate: Surrogate,
    tau: float,
) -> torch.Tensor:
    """The RELAX surrogate of :func:`relax` with z~ := z (module docstring): ``surrogate``
    runs once, at z = log p + G, the z that drew b."""
    z = perturbed(logits, mask, noise)
    z_tilde = conditional_from(
        logits, mask, sample, conditional_log_uniforms(logits, mask, sample, z.detach())
    )
    path = torch.where(mask, z - z_tilde, torch.zeros(()))  # value ~0: derivatives only
    c_z = surrogate(relaxed(z.detach() + (path - path.detach()), tau, mask))
    f_b = torch.as_tensor(loss).detach()
    return (f_b - c_z).detach() * log_prob(logits, mask, sample) + c_z


def relax_correction(
    logits: torch.Tensor,
    mask: torch.Tensor,
    sample: torch.Tensor,
    loss: torch.Tensor | float,
    surrogate: Surrogate,
    tau: float,
    generator: torch.Generator,
    weight: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """RELAX's terms that need f(b): w [(f(b) - c(z~)) log p(b) - c(z~)] with z~ ~ p(z | b);
    their mean gradient is grad E[f(b)] - grad E[c(z)].

    ``loss`` is f(b), a constant (e.g. the loss of the *measured* latency of b). ``surrogate``
    is differentiable in its soft one-hot input (a latency predictor g, or the relaxed network's
    loss for REBAR).
    """
    z_tilde = conditional_perturbed(logits, mask, sample, generator)
    c_z_tilde = surrogate(relaxed(z_tilde, tau, mask))
    f_b = torch.as_tensor(loss).detach()
    w = torch.as_tensor(weight).detach()
    return w * ((f_b - c_z_tilde).detach() * log_prob(logits, mask, sample) - c_z_tilde)


def reparameterized(
    logits: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor, surrogate: Surrogate, tau: float
) -> torch.Tensor:
    """c(z) at z = log p + G: RELAX's reparameterized term, whose gradient estimates
    grad E[c(z)] and needs no f(b)."""
    return surrogate(relaxed(perturbed(logits, mask, noise), tau, mask))


def importance_weight(
    logits_now: torch.Tensor,
    logits_then: torch.Tensor,
    mask: torch.Tensor,
    sample: torch.Tensor,
    cap: float,
) -> torch.Tensor:
    """min(cap, p_now(b) / p_then(b)): a truncated importance weight (as in ACER, Wang et
    al., ICLR 2017), trading a small bias for bounded variance."""
    with torch.no_grad():
        ratio = torch.exp(log_prob(logits_now, mask, sample) - log_prob(logits_then, mask, sample))
    return ratio.clamp(max=cap)
