"""Verdict and re-measurement with a real ONNX Runtime model and a real load process.

The load is a child process spinning on one core. Other tenants of this machine must not
decide these tests, so the collector reads real ``/proc`` data scoped to the test's own
load: ``other_cpu_cores`` is the load process's CPU time over each interval. The protocol,
the verdict rules, the quiet wait and the model's timing are the real ones.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from profiler_agent.backends import BackendSettings
from profiler_agent.backends.ort_backend import OrtCpuBackend, OrtPrepared
from profiler_agent.evidence import Evidence, EvidenceCollector
from profiler_agent.protocol import Measurement, MeasurementPolicy, measure

POLICY = MeasurementPolicy(
    warmup_min_runs=2,
    warmup_min_s=0.0,
    timed_min_runs=5,
    timed_min_s=0.2,
    max_timed_s=0.0,
    max_cv=1e6,  # off: this test is about disturbance, not about a busy machine's CV
    max_other_cpu=0.02,  # a starved load still shows; a killed one reads 0
    quiet_window_s=0.3,
    max_quiet_wait_s=1.0,
    max_disturbed_tries=3,
)


class LoadCollector(EvidenceCollector):
    """``other_cpu_cores`` = the load process's CPU time per second of the interval; the
    load is killed after the first interval when ``stop_load_after_first`` is set."""

    def __init__(self, load: subprocess.Popen[bytes], stop_load_after_first: bool) -> None:
        self.load = load
        self.process = psutil.Process(load.pid)
        self.stop_load_after_first = stop_load_after_first
        self.intervals: list[Evidence] = []
        self._last = 0.0

    def _cpu_s(self) -> float:
        try:
            times = self.process.cpu_times()
        except psutil.NoSuchProcess:
            return self._last
        self._last = times.user + times.system
        return self._last

    def start(self) -> None:
        self._start = (time.monotonic(), self._cpu_s())

    def stop(self) -> Evidence:
        began, cpu_before = self._start
        interval = time.monotonic() - began
        evidence = {"other_cpu_cores": (self._cpu_s() - cpu_before) / interval}
        self.intervals.append(evidence)
        if self.stop_load_after_first and len(self.intervals) == 1:
            self.load.kill()
            self.load.wait()
        return evidence


class WatchedOrtBackend(OrtCpuBackend):
    collector: EvidenceCollector

    def evidence_collector(self, prepared: OrtPrepared) -> EvidenceCollector:
        return self.collector


@pytest.fixture
def load() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    process = psutil.Process(child.pid)
    deadline = time.monotonic() + 10.0
    while process.cpu_times().user < 0.05 and time.monotonic() < deadline:
        time.sleep(0.02)
    yield child
    child.kill()
    child.wait()


def _measure(tiny_onnx: Path, collector: LoadCollector) -> tuple[Measurement, float]:
    backend = WatchedOrtBackend()
    backend.collector = collector
    prepared = backend.prepare(tiny_onnx, None, BackendSettings(threads=1))
    started = time.monotonic()

    def check() -> None:  # a wait that never ends fails the test here instead of hanging
        if time.monotonic() - started > 60.0:
            raise TimeoutError("the measurement ran past 60 s")

    result = measure(backend, prepared, POLICY, check)
    return result, time.monotonic() - started


def test_a_load_that_stops_gives_a_clean_re_measurement(
    tiny_onnx: Path, load: subprocess.Popen[bytes]
) -> None:
    collector = LoadCollector(load, stop_load_after_first=True)
    result, _ = _measure(tiny_onnx, collector)
    first = collector.intervals[0]
    assert first["other_cpu_cores"] > POLICY.max_other_cpu  # ran beside the load: disturbed
    assert (result.verdict.verdict, result.evidence["disturbed_windows"]) == ("clean", 1)
    assert result.evidence["other_cpu_cores"] == 0.0  # the kept windows' worst
    assert result.evidence["set_aside_runs"] >= 1  # the first window's runs
    # one quiet window was watched before the re-measurement
    assert POLICY.quiet_window_s <= result.evidence["waited_for_quiet_s"] < 1.0
    assert len(result.times_ms) >= 5


def test_a_load_that_never_stops_is_reported_disturbed_within_the_bound(
    tiny_onnx: Path, load: subprocess.Popen[bytes]
) -> None:
    collector = LoadCollector(load, stop_load_after_first=False)
    result, elapsed = _measure(tiny_onnx, collector)
    verdict = result.verdict
    assert (verdict.verdict, result.evidence["disturbed_windows"]) == ("disturbed", 3)
    assert verdict.figure is not None and verdict.figure > POLICY.max_other_cpu
    assert verdict.threshold == POLICY.max_other_cpu
    assert "cores busy" in verdict.reason
    # two waits of max_quiet_wait_s each: the last window is cut short to keep the bound
    waited = result.evidence["waited_for_quiet_s"]
    assert 2 * POLICY.max_quiet_wait_s <= waited < 2 * POLICY.max_quiet_wait_s + 0.2
    assert elapsed < waited + 20.0
