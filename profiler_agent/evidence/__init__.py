"""Interference evidence: what else ran on the device while a timed phase ran.

A collector is started before a timed phase and stopped after it; ``stop`` returns the
evidence as flat JSON data (the wire keys of issue 16). A value that cannot be read is left
out, never guessed. Backends choose their collector (``Backend.evidence_collector``): CPU
backends :class:`~profiler_agent.evidence.cpu.CpuCollector`, CUDA backends the CPU one plus
:class:`~profiler_agent.evidence.nvml.NvmlCollector`, the phone
:class:`~profiler_agent.evidence.android.AndroidCollector`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

Evidence = dict[str, Any]


class EvidenceCollector(ABC):
    """Observes one interval at a time: ``start()`` then ``stop()``; reusable."""

    @abstractmethod
    def start(self) -> None:
        """Take the readings the interval is measured from."""

    @abstractmethod
    def stop(self) -> Evidence:
        """The evidence over the interval since ``start``."""


class CombinedCollector(EvidenceCollector):
    """Several collectors over the same interval; their keys are disjoint."""

    def __init__(self, collectors: Sequence[EvidenceCollector]) -> None:
        self.collectors = tuple(collectors)

    def start(self) -> None:
        for collector in self.collectors:
            collector.start()

    def stop(self) -> Evidence:
        evidence: Evidence = {}
        for collector in reversed(self.collectors):
            evidence.update(collector.stop())
        return evidence
