"""What an estimator's architecture step may use, injected by the search loop (or a test).

Latency enters only through ``latency`` (a differentiable predictor g) and ``oracle`` (true
latency of discrete architectures); never through a global.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from search_worker.latency import DifferentiableLatency
from search_worker.nn.supernet import PathSelection
from search_worker.oracle import LatencyOracle
from search_worker.search.distribution import one_hot
from search_worker.search.losses import LatencyLoss


@dataclass(frozen=True)
class Candidate:
    """A discrete architecture the search evaluated: op indices, score, predicted latency."""

    arch: tuple[int, ...]
    accuracy: float
    predicted_ms: float


SelectionLoss = Callable[[Sequence[PathSelection]], torch.Tensor]
ArchitectureScore = Callable[[tuple[int, ...]], float]


@dataclass
class ArchitectureProblem:
    """``loss``: the objective (e.g. CE on the architecture half) under per-layer selections;
    ``accuracy``: a score to rank discrete architectures (higher is better)."""

    loss: SelectionLoss
    accuracy: ArchitectureScore
    latency: DifferentiableLatency
    latency_loss: LatencyLoss
    oracle: LatencyOracle

    def predicted_ms(self, archs: torch.Tensor) -> torch.Tensor:
        """g at the one-hots of op indices [n, L] -> [n] (no gradient)."""
        with torch.no_grad():
            return self.latency(one_hot(archs, self.latency.mask.shape[-1]))

    def evaluate(self, arch: tuple[int, ...]) -> Candidate:
        """Score and predicted latency of one discrete architecture."""
        predicted = float(self.predicted_ms(torch.tensor([arch]))[0])
        return Candidate(arch, self.accuracy(arch), predicted)


def single_paths(arch: Sequence[int] | torch.Tensor) -> list[PathSelection]:
    return [PathSelection.single(int(j)) for j in arch]


def mixtures(weights: torch.Tensor, counts: Sequence[int]) -> list[PathSelection]:
    """All candidates of each layer weighted by ``weights`` [L, K] (padding dropped)."""
    return [PathSelection.mixture(weights[layer, :count]) for layer, count in enumerate(counts)]
