"""The CPU collector on real ``/proc`` data, with a real busy child process as the load.

Other engineers' work may keep this machine busy, so no test asserts that the machine is
quiet: each compares what the collector reports with what the test itself controls (its
child's CPU time, its own busy loop) measured independently through ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psutil
import pytest

from profiler_agent.evidence.cpu import (
    TICK_S,
    CpuCollector,
    CpuReading,
    cpu_evidence,
    split_cpu_times,
)

# /proc/stat is sampled at the clock tick (100 Hz) while a process's own times are exact
# run time, so over a second or two the two differ by a few ticks per busy core.
TOLERANCE_S = 0.15
WORK_S = 0.6  # CPU seconds the load (or the agent) spends in an interval: > 4x the tolerance
BUSY_LOOP = "while True: pass"


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


@pytest.fixture
def busy_child() -> Iterator[psutil.Process]:
    """A child process spinning on one core, already running when the test starts."""
    child = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    process = psutil.Process(child.pid)
    deadline = time.monotonic() + 30.0
    while cpu_seconds(process) < 0.05 and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield process
    finally:
        child.kill()
        child.wait()


def busy_total(times: Any) -> float:
    return times.user + times.nice + times.system + times.irq + times.softirq


def test_a_busy_child_counts_as_other_and_a_sleeping_agent_as_nothing(
    busy_child: psutil.Process,
) -> None:
    collector = CpuCollector()
    child_before = cpu_seconds(busy_child)
    collector.start()
    deadline = time.monotonic() + 30.0  # however busy the machine, the child gets its share
    while cpu_seconds(busy_child) - child_before < WORK_S and time.monotonic() < deadline:
        time.sleep(0.05)
    evidence = collector.stop()
    child_s = cpu_seconds(busy_child) - child_before
    interval = evidence["interval_s"]
    assert child_s >= WORK_S
    assert evidence["other_cpu_cores"] * interval >= child_s - TOLERANCE_S
    assert evidence["own_cpu_cores"] < 0.1
    assert evidence["usable_cores"] >= 1
    assert 0.0 <= evidence["steal_share"] <= 1.0
    assert evidence["loadavg_1m"] >= 0.0


def test_the_agents_own_busy_loop_counts_as_own_not_other() -> None:
    collector = CpuCollector()
    me = psutil.Process()
    own_before, system_before = cpu_seconds(me), psutil.cpu_times()
    collector.start()
    deadline = time.monotonic() + 30.0
    while cpu_seconds(me) - own_before < WORK_S and time.monotonic() < deadline:
        pass
    evidence = collector.stop()
    own_s = cpu_seconds(me) - own_before
    system_busy_s = busy_total(psutil.cpu_times()) - busy_total(system_before)
    interval = evidence["interval_s"]
    assert own_s >= WORK_S
    assert evidence["own_cpu_cores"] * interval == pytest.approx(own_s, abs=TOLERANCE_S)
    # everything busy is either ours or others': counting our loop as others' too would
    # exceed the machine's busy time by our whole loop
    reported_s = (evidence["own_cpu_cores"] + evidence["other_cpu_cores"]) * interval
    assert reported_s <= system_busy_s + TOLERANCE_S


def test_evidence_arithmetic_from_two_readings() -> None:
    before = CpuReading(
        at=100.0, busy_s=50.0, steal_s=1.0, total_s=200.0, own_s=10.0, mhz=(2000.0, 2400.0)
    )
    after = CpuReading(
        at=102.0, busy_s=53.0, steal_s=1.1, total_s=204.0, own_s=11.0, mhz=(1800.0, 2600.0)
    )
    evidence = cpu_evidence(before, after)
    # 3 busy seconds in 2 s, 1 of them the agent's own: others kept 1 core busy
    assert evidence["other_cpu_cores"] == 1.0
    assert evidence["own_cpu_cores"] == 0.5
    assert evidence["steal_share"] == 0.025
    assert (evidence["cpu_mhz_min"], evidence["cpu_mhz_max"]) == (1800.0, 2600.0)
    unreadable = cpu_evidence(replace(before, mhz=()), replace(after, mhz=(), total_s=200.0))
    assert "cpu_mhz_min" not in unreadable and "steal_share" not in unreadable
    # the agent's own time is never reported as others' (tick rounding can make it exceed
    # the system's busy time in a short interval)
    assert cpu_evidence(before, replace(after, own_s=14.0))["other_cpu_cores"] == 0.0
    with pytest.raises(RuntimeError, match="before start"):
        CpuCollector().stop()


def test_a_short_interval_reports_its_tick_and_no_more_cores_than_the_machine_has() -> None:
    """A neighbour's tick on every CPU and one more inside a 3.4 ms timed phase (a test
    policy's): the figure is bounded by the machine's CPUs, and the tick it moves in is
    stored beside it."""
    cpus = psutil.cpu_count() or 1
    ticks = (cpus + 1) * TICK_S
    before = CpuReading(at=10.0, busy_s=5.0, steal_s=0.0, total_s=20.0, own_s=1.0, mhz=())
    after = replace(before, at=10.0034, busy_s=5.0 + ticks, total_s=20.0 + ticks)
    evidence = cpu_evidence(before, after)
    assert evidence["other_cpu_cores"] == cpus
    assert evidence["cpu_tick_cores"] == pytest.approx(TICK_S / 0.0034, rel=1e-3)
    long = cpu_evidence(before, replace(after, at=10.0 + 100 * cpus * TICK_S))
    assert long["other_cpu_cores"] == pytest.approx((cpus + 1) / (100 * cpus), abs=1e-4)
    assert long["cpu_tick_cores"] == pytest.approx(1 / (100 * cpus), abs=1e-4)


def test_steal_and_guest_time_are_nobodys_work_here() -> None:
    linux = {
        **{"user": 10.0, "nice": 1.0, "system": 5.0, "idle": 100.0, "iowait": 3.0},
        **{"irq": 1.0, "softirq": 1.0, "steal": 4.0, "guest": 2.0, "guest_nice": 0.0},
    }
    assert split_cpu_times(linux) == (18.0, 4.0, 125.0)
    assert split_cpu_times({"user": 2.0, "nice": 0.0, "system": 1.0, "idle": 7.0}) == (
        3.0,
        0.0,
        10.0,
    )
