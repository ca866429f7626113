"""ProxylessNAS' two-path architecture update (Cai et al., ICLR 2019, section 3.2.1).

Per layer two candidates {i, j} are drawn without replacement from p; one is active
(a binary gate g, drawn with the pair's renormalized probabilities) and only the two run.
With q = softmax over the pair's logits, the BinaryConnect gradient is
dL/dalpha_a = sum_{c in pair} dL/dg_c q_c (delta_ac - q_a). After the optimizer step the pair's
logits are shifted by one constant so their log-sum-exp is unchanged: every candidate outside
the pair keeps its probability.
"""

from __future__ import annotations

import torch

from search_worker.search.distribution import masked_log_softmax


def sample_pairs(
    logits: torch.Tensor, mask: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(pairs [L, 2] op indices, active [L] in {0, 1}) from the current distribution."""
    probs = masked_log_softmax(logits.detach(), mask).exp()
    pairs = torch.multinomial(probs, 2, replacement=False, generator=generator)
    pair_probs = probs.gather(-1, pairs)
    active = torch.multinomial(pair_probs, 1, generator=generator)[:, 0]
    return pairs, active


def gates(active: torch.Tensor) -> torch.Tensor:
    """Binary gates [L, 2] (one-hot of ``active``) that collect dL/dg in backward."""
    g = torch.nn.functional.one_hot(active, 2).float()
    return g.requires_grad_(True)


def pair_gradient(
    logits: torch.Tensor, pairs: torch.Tensor, gate_grads: torch.Tensor
) -> torch.Tensor:
    """dL/dalpha [L, K] from the gates' gradients [L, 2]; zero outside each pair."""
    q = logits.detach().gather(-1, pairs).softmax(dim=-1)  # [L, 2]
    weighted = (gate_grads * q).sum(dim=-1, keepdim=True)  # sum_c dL/dg_c q_c
    grad_pair = q * (gate_grads - weighted)  # sum_c dL/dg_c q_c (delta_ac - q_a)
    return torch.zeros_like(logits).scatter(-1, pairs, grad_pair)


@torch.no_grad()
def rescale_pairs(alpha: torch.Tensor, before: torch.Tensor, pairs: torch.Tensor) -> None:
    """Shift each pair's updated logits in place so their log-sum-exp equals ``before``'s."""
    old = before.gather(-1, pairs).logsumexp(dim=-1, keepdim=True)
    new = alpha.gather(-1, pairs).logsumexp(dim=-1, keepdim=True)
    alpha.scatter_(-1, pairs, alpha.gather(-1, pairs) + (old - new))
