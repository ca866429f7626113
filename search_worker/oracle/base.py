"""The latency oracle: "what is the true latency of architecture b on device D?".

Requests never block the training loop: :meth:`LatencyOracle.request` answers at once when the
latency is known (cache, predictor) and otherwise starts a measurement; :meth:`collect` hands
over what has arrived since. Only the end of a search blocks, in :meth:`wait_for`.
Architectures are tuples of op indices into each layer's candidate list.

A measurement whose verdict is not ``clean`` (issue 16) is reported to the search with its
verdict in :attr:`LatencyOracle.unclean` and kept out of its latency terms: it never becomes
a known latency unless the oracle was made with ``include_unclean``. It is not re-queued: the
agent has already waited for quiet and re-measured before it reported a disturbed phase.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

Arch = tuple[int, ...]


class MeasurementFailed(RuntimeError):
    """The device could not measure an architecture (its job failed or was canceled)."""


@dataclass
class OracleStats:
    """Per search: distinct true measurements obtained, requests made, seconds blocked, and
    measurements answered with a verdict other than clean."""

    measurements_used: int = 0
    requests: int = 0
    wait_s: float = 0.0
    unclean: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LatencyOracle(ABC):
    """Latency in ms of discrete architectures; see the module docstring."""

    mode: str

    def __init__(self, *, include_unclean: bool = False) -> None:
        self.stats = OracleStats()
        self.include_unclean = include_unclean
        self._known: dict[Arch, float] = {}
        self._arrived: dict[Arch, float] = {}
        self.failed: set[Arch] = set()
        # Non-clean answers: arch -> {"latency_ms", "verdict", "reason"}.
        self.unclean: dict[Arch, dict[str, Any]] = {}

    def request(self, arch: Arch) -> float | None:
        """The latency if known now; else start measuring it (once) and return None."""
        self.stats.requests += 1
        if arch in self._known or arch in self.unclean:
            return self._known.get(arch)
        value = self._start(arch)
        if value is not None:
            self._record(arch, value)
        return value

    def collect(self) -> dict[Arch, float]:
        """Latencies that arrived since the last call (failures go to ``failed``)."""
        self._poll()
        arrived, self._arrived = self._arrived, {}
        return arrived

    def wait_for(
        self,
        archs: Iterable[Arch],
        timeout_s: float,
        poll_s: float = 1.0,
        on_poll: Callable[[], None] = lambda: None,
    ) -> dict[Arch, float]:
        """Block until every arch is settled (known, failed or unclean); the time counts as
        ``wait_s``. ``on_poll`` runs every poll (e.g. the search's heartbeat). Returns the
        known latencies."""
        wanted = list(dict.fromkeys(archs))
        for arch in wanted:
            self.request(arch)
        start = time.monotonic()
        try:
            while True:
                self.collect()
                missing = [a for a in wanted if not self.settled(a)]
                if not missing:
                    return {a: self._known[a] for a in wanted if a in self._known}
                if time.monotonic() - start > timeout_s:
                    raise TimeoutError(
                        f"{len(missing)} measurement(s) not back after {timeout_s:.0f}s"
                    )
                on_poll()
                time.sleep(poll_s)
        finally:
            self.stats.wait_s += time.monotonic() - start

    def known(self, arch: Arch) -> float | None:
        return self._known.get(arch)

    def settled(self, arch: Arch) -> bool:
        """Nothing more will come for ``arch``: its latency is known, its measurement failed,
        or it was answered with a verdict other than clean."""
        return arch in self._known or arch in self.failed or arch in self.unclean

    def verdict(self, arch: Arch) -> dict[str, Any]:
        """``{"verdict", "reason"}`` of the answer for ``arch`` (clean unless said otherwise)."""
        answer = self.unclean.get(arch, {"verdict": "clean", "reason": ""})
        return {"verdict": answer["verdict"], "reason": answer["reason"]}

    def measured(self) -> dict[Arch, float]:
        """Every latency known so far."""
        return dict(self._known)

    def _record(self, arch: Arch, value: float, verdict: str = "clean", reason: str = "") -> None:
        """A measurement arrived; a non-clean one is noted in ``unclean`` and, unless the
        oracle includes them, kept out of the known latencies."""
        if arch in self._known or arch in self.unclean:
            return
        if verdict != "clean":
            self.unclean[arch] = {"latency_ms": value, "verdict": verdict, "reason": reason}
            self.stats.unclean += 1
            if not self.include_unclean:
                return
        self._known[arch] = value
        self._arrived[arch] = value
        self.stats.measurements_used += int(self.counts_as_measurement)

    @property
    def counts_as_measurement(self) -> bool:
        return True

    @property
    def in_flight(self) -> int:
        """Measurements started and not back yet (none for an oracle that answers at once)."""
        return 0

    @abstractmethod
    def _start(self, arch: Arch) -> float | None:
        """Answer now, or start a measurement and return None."""

    def _poll(self) -> None:  # noqa: B027 - optional hook
        """Record finished measurements with :meth:`_record` (default: nothing pending)."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "stats": self.stats.to_dict(),
            "known": [[list(a), v] for a, v in self._known.items()],
            "failed": [list(a) for a in self.failed],
            "unclean": [[list(a), answer] for a, answer in self.unclean.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats = OracleStats(**state["stats"])
        self._known = {tuple(a): float(v) for a, v in state["known"]}
        self.failed = {tuple(a) for a in state["failed"]}
        self.unclean = {tuple(a): dict(answer) for a, answer in state.get("unclean", [])}
