"""The machine's state before ``hwnas demo`` starts its stack (issue 16): how many cores other
processes keep busy, steal time and load average, sampled with psutil over a couple of
seconds; the demo's own processes are not running yet, so everything counted is someone
else's. The thresholds are the agent's defaults for a disturbed measurement."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

QUIET_OTHER_CORES = 0.10  # the agent's default --max-other-cpu
QUIET_STEAL_SHARE = 0.02


@dataclass(frozen=True)
class MachineState:
    """CPU use by other processes over ``interval_s``: busy cores (of ``cores``), the share
    of time stolen by a hypervisor and the 1-minute load average (None where unreadable)."""

    busy_cores: float
    cores: int
    steal_share: float | None
    loadavg_1m: float | None
    interval_s: float

    @property
    def quiet(self) -> bool:
        steal = self.steal_share or 0.0
        return self.busy_cores <= QUIET_OTHER_CORES and steal <= QUIET_STEAL_SHARE

    def line(self) -> str:
        """``machine state: quiet (...)`` or ``machine state: busy: other processes use N
        cores (...); figures will be marked``."""
        details = [f"{self.cores} cores", f"sampled {self.interval_s:g} s"]
        if self.loadavg_1m is not None:
            details.append(f"load average {self.loadavg_1m:.2f}")
        if self.steal_share is not None:
            details.append(f"steal {100 * self.steal_share:.1f}%")
        context = ", ".join(details)
        if self.quiet:
            return (
                f"machine state: quiet (other processes use {self.busy_cores:.2f} cores; {context})"
            )
        return (
            f"machine state: busy: other processes use {self.busy_cores:.2f} cores ({context}); "
            "figures will be marked"
        )


def sample_machine_state(interval_s: float = 2.0) -> MachineState:
    """Sample every CPU's time split over ``interval_s`` (blocks that long)."""
    split = psutil.cpu_times_percent(interval=interval_s)
    cores = psutil.cpu_count() or 1
    steal = getattr(split, "steal", None)
    not_busy = split.idle + getattr(split, "iowait", 0.0) + (steal or 0.0)
    loadavg = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return MachineState(
        busy_cores=max(0.0, (100.0 - not_busy) / 100.0 * cores),
        cores=cores,
        steal_share=None if steal is None else steal / 100.0,
        loadavg_1m=loadavg,
        interval_s=interval_s,
    )
