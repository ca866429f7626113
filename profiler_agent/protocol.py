"""The measurement protocol (design section 4): warm up, time, check stability, re-run once.

Minimums are on the runs' own measured time (the sum of per-run times), so they hold for the
returned raw times whatever the harness overhead: warm-up >= 10 runs and >= 0.2 s, then
>= 20 timed runs and >= 1 s; the median is the reported latency. A CV above 5 % flags the
timed phase unstable; it is re-run once and, if still unstable, returned with
``unstable=True``. Backends that only get a tool's aggregate statistics (``timing_kind ==
"summary"``) pass the same minimums to the tool and return no raw times. Per-layer profiles
are taken with :func:`profile` in a separate run, after timing. The policy is injectable so
tests (and a user in a hurry) can choose smaller minimums.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from profiler_agent.backends.base import Backend, P, TimingKind
from profiler_agent.layer_profile import LayerProfile
from profiler_agent.stats import InvalidTimings, LatencyStats, summarize, validate_times


@dataclass(frozen=True)
class MeasurementPolicy:
    """How long to warm up and to time, and when a result counts as unstable."""

    warmup_min_runs: int = 10
    warmup_min_s: float = 0.2
    timed_min_runs: int = 20
    timed_min_s: float = 1.0
    max_cv: float = 0.05
    reruns_when_unstable: int = 1
    profile_runs: int = 10

    def __post_init__(self) -> None:
        if self.warmup_min_runs < 0 or self.timed_min_runs < 2 or self.profile_runs < 1:
            raise ValueError("need warmup_min_runs >= 0, timed_min_runs >= 2, profile_runs >= 1")
        if min(self.warmup_min_s, self.timed_min_s) < 0 or self.max_cv <= 0:
            raise ValueError("durations must be >= 0 and max_cv > 0")
        if self.reruns_when_unstable < 0:
            raise ValueError("reruns_when_unstable must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Measurement:
    """Raw per-run times (ms) of the reported timed phase and their statistics.

    ``times_ms`` is empty when ``timing_kind`` is ``summary`` (the tool gave statistics only).
    """

    times_ms: tuple[float, ...]
    stats: LatencyStats
    unstable: bool
    attempts: int
    warmup_runs: int
    timing_kind: TimingKind
    policy: MeasurementPolicy

    @property
    def median_ms(self) -> float:
        return self.stats.median_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "times_ms": list(self.times_ms),
            "stats": self.stats.to_dict(),
            "unstable": self.unstable,
            "attempts": self.attempts,
            "warmup_runs": self.warmup_runs,
            "timing_kind": self.timing_kind,
            "policy": self.policy.to_dict(),
        }


def measure(
    backend: Backend[P],
    prepared: P,
    policy: MeasurementPolicy | None = None,
    check: Callable[[], None] = lambda: None,
) -> Measurement:
    """Warm up, then time until both minimums hold; re-run an unstable phase.

    ``check`` is called before every batch of runs; it raises to abandon the measurement
    (lease lost, job canceled, agent stopping, deadline passed).
    """
    policy = policy or MeasurementPolicy()
    kind = backend.timing_kind(prepared)
    timed_phase: Callable[[], tuple[list[float], LatencyStats]]
    if kind == "per_run":
        warmup_runs = len(
            collect(backend, prepared, policy.warmup_min_runs, policy.warmup_min_s, check)
        )

        def timed_phase() -> tuple[list[float], LatencyStats]:
            times = collect(backend, prepared, policy.timed_min_runs, policy.timed_min_s, check)
            return times, summarize(times, backend.name)

    else:
        warmup_runs = policy.warmup_min_runs

        def timed_phase() -> tuple[list[float], LatencyStats]:
            check()
            stats = backend.run_summary(
                prepared,
                warmup_runs=policy.warmup_min_runs,
                warmup_s=policy.warmup_min_s,
                runs=policy.timed_min_runs,
                min_s=policy.timed_min_s,
            )
            return [], stats

    attempts = 0
    while True:
        attempts += 1
        times, stats = timed_phase()
        unstable = stats.cv > policy.max_cv
        if not unstable or attempts > policy.reruns_when_unstable:
            return Measurement(
                times_ms=tuple(times),
                stats=stats,
                unstable=unstable,
                attempts=attempts,
                warmup_runs=warmup_runs,
                timing_kind=kind,
                policy=policy,
            )


BATCH_CAP_S = 2.0
"""Longest stretch of runs between two ``check`` calls."""


def collect(
    backend: Backend[P],
    prepared: P,
    min_runs: int,
    min_s: float,
    check: Callable[[], None] = lambda: None,
) -> list[float]:
    """Run batches until ``min_runs`` runs and ``min_s`` seconds of measured time are reached.

    Each further batch is sized from the mean so far, so a tool-driven backend reaches the
    target in few invocations, but holds at most ``BATCH_CAP_S`` of runs, so ``check`` (cancel,
    SIGTERM, lease loss) is consulted that often; every time is validated as it arrives.
    """
    times: list[float] = []
    total_ms = 0.0
    target_ms = min_s * 1000.0
    batch = max(min_runs, 1 if target_ms > 0 else 0)
    while batch > 0:
        check()
        new = validate_times(backend.run_batch(prepared, batch), backend.name)
        if new.size != batch:
            raise InvalidTimings(f"{backend.name} returned {new.size} times for {batch} runs")
        times.extend(float(t) for t in new)
        total_ms += float(new.sum())
        missing_ms = target_ms - total_ms
        mean_ms = total_ms / len(times)
        by_time = math.ceil(missing_ms / mean_ms) if missing_ms > 0 else 0
        cap = max(1, int(BATCH_CAP_S * 1000.0 / mean_ms)) if mean_ms > 0 else by_time
        batch = max(min_runs - len(times), min(by_time, cap))
    return times


def profile(
    backend: Backend[P], prepared: P, policy: MeasurementPolicy | None = None
) -> LayerProfile:
    """Per-node and per-block times from the runtime's profiler (a separate run)."""
    policy = policy or MeasurementPolicy()
    return LayerProfile.from_layers(backend.profile_layers(prepared, policy.profile_runs))
