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

# How the windows of one timed phase add up: durations sum, clocks keep their lowest
# reading, clock-event reasons their union, other lists (per-core clocks) the last window's,
# and every other figure (others' CPU, steal, load, temperature, other GPU processes) its
# highest, so the phase's evidence is its worst window.
_SUMMED = frozenset({"interval_s"})
_LOWEST = frozenset({"cpu_mhz_min", "cpu_mhz_max", "gpu_sm_clock_mhz"})
_UNION = frozenset({"gpu_throttle_reasons"})


def merge_windows(windows: Sequence[Evidence]) -> Evidence:
    """One phase's evidence from the evidence of its windows (see the rules above)."""
    merged: Evidence = {}
    for window in windows:
        for key, value in window.items():
            if key not in merged:
                merged[key] = value
            elif key in _SUMMED:
                merged[key] = round(merged[key] + value, 4)
            elif key in _UNION:
                merged[key] = sorted({*merged[key], *value})
            elif isinstance(value, int | float) and not isinstance(value, bool):
                pick = min if key in _LOWEST else max
                merged[key] = pick(merged[key], value)
            else:
                merged[key] = value
    return merged


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
