"""Scores of candidate architectures with the supernet's shared weights, taken at the end of a
search to rank them.

A candidate is copied out of the supernet, its batch-norm statistics are re-estimated on
training batches (the shared running statistics belong to no single path: Once-for-All, Cai
et al., ICLR 2020, section 3.3), and its top-1 is taken in eval mode on batches of the held-out
``score`` split, which neither the weight nor the architecture step saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from search_worker.nn import Supernet

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Scoring:
    calibration: Sequence[Batch]  # BN statistics are estimated on these (training data)
    scored: Sequence[Batch]  # top-1 is taken on these (held-out data)


def recalibrated(supernet: Supernet, arch: Sequence[int], batches: Sequence[Batch]) -> nn.Module:
    """A copy of ``arch`` whose BN running statistics are the plain averages over ``batches``
    (the supernet is left as it is), in eval mode."""
    network = supernet.extract(list(arch))
    for module in network.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average, not an exponential one
    network.train()
    with torch.no_grad():
        for x, _ in batches:
            network(x)
    return network.eval()


def score(supernet: Supernet, arch: Sequence[int], scoring: Scoring) -> float:
    """Top-1 of ``arch`` on the scored batches after BN recalibration."""
    network = recalibrated(supernet, arch, scoring.calibration)
    with torch.no_grad():
        hits = sum(int((network(x).argmax(1) == y).sum()) for x, y in scoring.scored)
    return hits / sum(len(y) for _, y in scoring.scored)
