"""How weights are trained, the supernet's and a standalone network's alike: SGD with Nesterov
momentum 0.9 and weight decay 4e-5 (the ProxylessNAS recipe, Cai et al., ICLR 2019), a
learning rate warmed up linearly over the first tenth of the steps and then cosine-annealed
to zero (gradual warm-up: Goyal et al., "Accurate, Large Minibatch SGD", 2017, section 2.2;
cosine: Loshchilov & Hutter, ICLR 2017), and the gradient norm clipped at 5.

Without the warm-up a proxy network at width 0.35 went from its initial loss of ln 10 to 3.4
within 50 steps at 0.05 and was still at 2.13 after 600 (docs/results.md, issue 17).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

WARMUP_FRACTION = 0.1
GRAD_CLIP = 5.0


def weight_optimizer(parameters: Iterable[nn.Parameter], lr: float) -> torch.optim.SGD:
    return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True, weight_decay=4e-5)


def learning_rate(base_lr: float, step: int, steps: int) -> float:
    """The learning rate of step ``step`` (from 0) of ``steps``: ``base_lr * (step + 1) /
    warm-up`` during the warm-up, then a cosine from ``base_lr`` towards 0."""
    warmup = max(1, round(WARMUP_FRACTION * steps))
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, progress)))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def sgd_step(optimizer: torch.optim.Optimizer, module: nn.Module, loss: torch.Tensor) -> None:
    """Backward ``loss``, clip ``module``'s gradient norm at :data:`GRAD_CLIP`, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(module.parameters(), GRAD_CLIP)
    optimizer.step()
