"""The latency oracle: "what is the true latency of architecture b on device D?".

Requests never block the training loop: :meth:`LatencyOracle.request` answers at once when the
latency is known (cache, predictor) and otherwise starts a measurement; :meth:`collect` hands
over what has arrived since. Only the end of a search blocks, in :meth:`wait_for`.
Architectures are tuples of op indices into each layer's candidate list.
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
    """Per search: distinct true measurements obtained, requests made, seconds blocked."""

    measurements_used: int = 0
    requests: int = 0
    wait_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LatencyOracle(ABC):
    """Latency in ms of discrete architectures; see the module docstring."""

    mode: str

    def __init__(self) -> None:
        self.stats = OracleStats()
        self._known: dict[Arch, float] = {}
        self._arrived: dict[Arch, float] = {}
        self.failed: set[Arch] = set()

    def request(self, arch: Arch) -> float | None:
        """The latency if known now; else start measuring it (once) and return None."""
        self.stats.requests += 1
        if arch in self._known:
            return self._known[arch]
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
        """Block until every arch is measured (or failed); the time counts as ``wait_s``.
        ``on_poll`` runs every poll (e.g. the search's heartbeat)."""
        wanted = list(dict.fromkeys(archs))
        for arch in wanted:
            self.request(arch)
        start = time.monotonic()
        try:
            while True:
                self.collect()
                missing = [a for a in wanted if a not in self._known and a not in self.failed]
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

    def measured(self) -> dict[Arch, float]:
        """Every latency known so far."""
        return dict(self._known)

    def _record(self, arch: Arch, value: float) -> None:
        if arch not in self._known:
            self._known[arch] = value
            self._arrived[arch] = value
            self.stats.measurements_used += int(self.counts_as_measurement)

    @property
    def counts_as_measurement(self) -> bool:
        return True

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
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats = OracleStats(**state["stats"])
        self._known = {tuple(a): float(v) for a, v in state["known"]}
        self.failed = {tuple(a) for a in state["failed"]}
