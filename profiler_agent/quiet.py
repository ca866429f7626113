"""Waiting for quiet between a disturbed timed phase and its re-measurement.

The collector watches windows of ``quiet_window_s`` while the agent itself idles; the wait
ends at the first window in which no idle-applicable rule of the verdict is broken, or once
``max_quiet_wait_s`` has passed (the window is shortened so the bound holds). ``check``
(cancel, lease loss, stop) is consulted at least every ``CHECK_EVERY_S``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from profiler_agent.evidence import EvidenceCollector
from profiler_agent.policy import MeasurementPolicy
from profiler_agent.verdict import find_disturbance

CHECK_EVERY_S = 0.25


def wait_for_quiet(
    collector: EvidenceCollector,
    policy: MeasurementPolicy,
    check: Callable[[], None] = lambda: None,
) -> float:
    """Seconds waited: until one quiet window was seen or the maximum wait passed."""
    started = time.monotonic()
    deadline = started + policy.max_quiet_wait_s
    while True:
        check()
        window = min(policy.quiet_window_s, deadline - time.monotonic())
        if window <= 0:
            break
        collector.start()
        window_end = time.monotonic() + window
        while (left := window_end - time.monotonic()) > 0:
            time.sleep(min(left, CHECK_EVERY_S))
            check()
        if find_disturbance(collector.stop(), policy, idle=True) is None:
            break
    return time.monotonic() - started
