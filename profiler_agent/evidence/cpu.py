"""CPU interference: others' CPU time, steal, clocks and load during an interval.

System-wide CPU times come from ``/proc/stat`` and this process's own from
``/proc/self/stat`` (both through psutil, in seconds of clock ticks). Work done by others is
the system's non-idle, non-steal time minus the agent's own user+system time (all its
threads: the runtime's thread pool included); steal is time the hypervisor gave another
guest, so it is counted on its own (``steal_share``), never as anyone's work here. Guest
time is already inside user/nice on Linux. Clocks are sampled at both ends of the interval.

``/proc/stat`` counts whole clock ticks (10 ms at the usual 100 Hz), so over a short interval
the figures move in steps of ``cpu_tick_cores`` (one tick over the interval, in cores), which
is stored with them: two ticks of a neighbour within a 3.4 ms phase read as 5.9 cores. Others'
use is bounded by the machine's CPUs, the most it can be.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from profiler_agent.environment import usable_cores
from profiler_agent.evidence import Evidence, EvidenceCollector

_NOT_BUSY = ("idle", "iowait", "steal", "guest", "guest_nice")
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuReading:
    """Cumulative CPU seconds: all CPUs' busy (non-idle, non-steal) time, steal, the total,
    and this process's own user+system time."""

    at: float
    busy_s: float
    steal_s: float
    total_s: float
    own_s: float
    mhz: tuple[float, ...]


def split_cpu_times(fields: Mapping[str, float]) -> tuple[float, float, float]:
    """(busy, steal, total) seconds of ``psutil.cpu_times()`` fields: busy is neither idle,
    iowait nor steal; guest time is inside user/nice already, so it is not added again."""
    busy = sum(v for k, v in fields.items() if k not in _NOT_BUSY)
    total = sum(v for k, v in fields.items() if k not in ("guest", "guest_nice"))
    return busy, fields.get("steal", 0.0), total


def read_cpu(process: psutil.Process) -> CpuReading:
    busy, steal, total = split_cpu_times(psutil.cpu_times()._asdict())
    own = process.cpu_times()
    return CpuReading(
        at=time.monotonic(),
        busy_s=busy,
        steal_s=steal,
        total_s=total,
        own_s=own.user + own.system,
        mhz=core_mhz(),
    )


def core_mhz() -> tuple[float, ...]:
    """Each core's current clock (cpufreq, else ``/proc/cpuinfo``); empty where unreadable."""
    try:
        cores = psutil.cpu_freq(percpu=True) or []
    except (OSError, NotImplementedError, AttributeError):
        return ()
    return tuple(float(c.current) for c in cores if c.current > 0)


def max_mhz() -> float | None:
    """The highest maximum clock over cores (cpufreq ``cpuinfo_max_freq``), None if unknown."""
    try:
        cores = psutil.cpu_freq(percpu=True) or []
    except (OSError, NotImplementedError, AttributeError):
        return None
    highest = max((c.max for c in cores), default=0.0)
    return float(highest) if highest > 0 else None


def cpu_evidence(before: CpuReading, after: CpuReading) -> Evidence:
    """The wire keys of one interval from two readings."""
    interval = after.at - before.at
    evidence: Evidence = {"interval_s": round(interval, 4), "usable_cores": usable_cores()}
    if interval > 0:
        own = max(after.own_s - before.own_s, 0.0)
        others = max(after.busy_s - before.busy_s - own, 0.0)
        cpus = psutil.cpu_count() or 1
        evidence["other_cpu_cores"] = round(min(others / interval, float(cpus)), 4)
        evidence["own_cpu_cores"] = round(own / interval, 4)
        evidence["cpu_tick_cores"] = round(TICK_S / interval, 4)
    total = after.total_s - before.total_s
    if total > 0:
        evidence["steal_share"] = round(max(after.steal_s - before.steal_s, 0.0) / total, 4)
    clocks = before.mhz + after.mhz
    if clocks:
        evidence["cpu_mhz_min"] = min(clocks)
        evidence["cpu_mhz_max"] = max(clocks)
    highest = max_mhz()
    if highest is not None:
        evidence["cpu_max_mhz"] = highest
    with contextlib.suppress(OSError):
        evidence["loadavg_1m"] = round(psutil.getloadavg()[0], 3)
    return evidence


class CpuCollector(EvidenceCollector):
    """Others' CPU use, steal, clocks and load average over the interval."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._before: CpuReading | None = None

    def start(self) -> None:
        self._before = read_cpu(self._process)

    def stop(self) -> Evidence:
        if self._before is None:
            raise RuntimeError("CpuCollector.stop() before start()")
        before, self._before = self._before, None
        return cpu_evidence(before, read_cpu(self._process))
