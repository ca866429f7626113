"""Keeping the latency model honest on the search's own distribution (issue 17, defect 6).

Every ``every`` architecture steps one architecture is drawn from the current distribution
and sent to the oracle (it never blocks the search, except with the ``local`` oracle, which
measures at once). Measured samples refit the correction of
:class:`~search_worker.latency.corrected.CorrectedLatency` on the ``window`` most recent
ones, so the model the search differentiates, and that derivation ranks finalists with, is
right where the distribution is now, as UNAS' measured latency term is (Vahdat et al., CVPR
2020). Samples whose measurement failed or was not clean are dropped. An oracle that only
predicts (``lut``, ``predictor``) corrects nothing: one predictor is not the truth of another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from search_worker.latency.corrected import CorrectedLatency
from search_worker.oracle import LatencyOracle
from search_worker.oracle.base import Arch
from search_worker.search.distribution import ArchitectureLogits, one_hot

WINDOW = 8  # measured samples the correction is fitted on, most recent first


class LatencyCalibration:
    def __init__(
        self, model: CorrectedLatency, every: int, seed: int, window: int = WINDOW
    ) -> None:
        self.model = model
        self.every = every
        self.window = window
        self.generator = torch.Generator().manual_seed(seed)
        self.pending: list[Arch] = []
        self.pairs: list[tuple[float, float]] = []  # (base prediction, measured), oldest first

    def step(self, step: int, logits: ArchitectureLogits, oracle: LatencyOracle) -> None:
        """Architecture step ``step``: maybe draw and request a sample; refit on arrivals."""
        if self.every == 0 or not oracle.counts_as_measurement:
            return
        if step % self.every == 0:
            arch = tuple(int(j) for j in logits.sample(self.generator))
            oracle.request(arch)
            self.pending.append(arch)
        oracle.collect()
        arrived = False
        for arch in list(self.pending):
            if not oracle.settled(arch):
                continue
            self.pending.remove(arch)
            measured = oracle.known(arch)
            if measured is not None:
                self.pairs = [*self.pairs, (self.base_prediction(arch), measured)][-self.window :]
                arrived = True
        if arrived:
            self.model.fit([g for g, _ in self.pairs], [m for _, m in self.pairs])

    def refit(self, measured: Mapping[Arch, float]) -> float:
        """Refit the correction on ``measured`` alone (architecture -> clean latency), e.g.
        the finalists of a derivation, where the model must be right now; returns it."""
        return self.model.fit([self.base_prediction(a) for a in measured], list(measured.values()))

    def base_prediction(self, arch: Arch) -> float:
        with torch.no_grad():
            weights = one_hot(torch.tensor([arch]), self.model.mask.shape[-1])
            return float(self.model.base(weights)[0])

    def state_dict(self) -> dict[str, Any]:
        return {
            "pending": [list(a) for a in self.pending],
            "pairs": [list(p) for p in self.pairs],
            "scale": float(self.model.scale),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pending = [tuple(a) for a in state["pending"]]
        self.pairs = [(float(g), float(m)) for g, m in state["pairs"]]
        self.model.scale.fill_(state["scale"])
        self.generator.set_state(state["generator"])
