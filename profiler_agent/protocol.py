"""The measurement protocol (design section 4): warm up, time, judge, re-measure.

Minimums are on the runs' own measured time (the sum of per-run times), so they hold for the
returned raw times whatever the harness overhead: warm-up >= 10 runs and >= 0.2 s, then
>= 20 timed runs and >= 1 s. After the minimums, adaptive stopping keeps timing until the
95 % confidence interval of the median (:func:`~profiler_agent.stats.median_ci`) is within
+-1 % of it, or the phase's measured time reaches ``max_timed_s``; the median is the reported
latency. An evidence collector of the backend watches every timed phase, and each phase gets
a verdict (:mod:`profiler_agent.verdict`). A disturbed phase is re-measured after a bounded
wait for quiet (:mod:`profiler_agent.quiet`), up to ``max_disturbed_tries`` disturbed
phases; an unstable one (CV above 5 %) is re-run ``reruns_when_unstable`` times. The last
phase is reported with its evidence, its verdict and the number of phases run. Backends that
only get a tool's aggregate statistics (``timing_kind == "summary"``) pass the minimums to the
tool and return no raw times (no CI of the median). Per-layer profiles are taken with
:func:`profile` in a separate run, after timing. The policy is injectable so tests (and a
user in a hurry) can choose smaller minimums.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from profiler_agent.backends.base import Backend, P, TimingKind
from profiler_agent.evidence import Evidence
from profiler_agent.layer_profile import LayerProfile
from profiler_agent.policy import MeasurementPolicy
from profiler_agent.quiet import wait_for_quiet
from profiler_agent.stats import InvalidTimings, LatencyStats, median_ci, summarize, validate_times
from profiler_agent.verdict import Verdict, judge

__all__ = ["Measurement", "MeasurementPolicy", "collect", "measure", "profile"]


@dataclass(frozen=True)
class Measurement:
    """Raw per-run times (ms) of the reported timed phase, their statistics and verdict.

    ``times_ms`` is empty and ``median_ci_ms`` None when ``timing_kind`` is ``summary`` (the
    tool gave statistics only). ``attempts`` counts the timed phases run.
    """

    times_ms: tuple[float, ...]
    stats: LatencyStats
    unstable: bool
    attempts: int
    warmup_runs: int
    timing_kind: TimingKind
    policy: MeasurementPolicy
    evidence: Evidence
    verdict: Verdict
    median_ci_ms: tuple[float, float] | None

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
            "evidence": self.evidence,
            "verdict": self.verdict.to_dict(),
            "median_ci_ms": list(self.median_ci_ms) if self.median_ci_ms else None,
        }


def measure(
    backend: Backend[P],
    prepared: P,
    policy: MeasurementPolicy | None = None,
    check: Callable[[], None] = lambda: None,
) -> Measurement:
    """Warm up, then time phases until one is neither disturbed nor unstable, or the policy's
    tries are used up.

    ``check`` is called before every batch of runs and while waiting for quiet; it raises to
    abandon the measurement (lease lost, job canceled, agent stopping, deadline passed).
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
            times = extend_until_precise(backend, prepared, times, policy, check)
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

    collector = backend.evidence_collector(prepared)
    tries = disturbed = unstable = 0
    waited_s = 0.0
    while True:
        tries += 1
        collector.start()
        times, stats = timed_phase()
        evidence = collector.stop()
        verdict = judge(evidence, stats.cv, policy, tries)
        if verdict.verdict == "disturbed":
            disturbed += 1
            if disturbed < policy.max_disturbed_tries:
                waited_s += wait_for_quiet(collector, policy, check)
                continue
        elif verdict.verdict == "unstable":
            unstable += 1
            if unstable <= policy.reruns_when_unstable:
                continue
        evidence.update(tries=tries, waited_for_quiet_s=round(waited_s, 3))
        return Measurement(
            times_ms=tuple(times),
            stats=stats,
            unstable=stats.cv > policy.max_cv,
            attempts=tries,
            warmup_runs=warmup_runs,
            timing_kind=kind,
            policy=policy,
            evidence=evidence,
            verdict=verdict,
            median_ci_ms=median_ci(times) if times else None,
        )


def is_precise(times_ms: list[float], relative: float) -> bool:
    """Whether the 95 % CI of the median lies within +-``relative`` of the median."""
    interval = median_ci(times_ms)
    if interval is None:
        return False
    center = float(np.median(times_ms))
    low, high = interval
    return max(center - low, high - center) <= relative * center


def extend_until_precise(
    backend: Backend[P],
    prepared: P,
    times: list[float],
    policy: MeasurementPolicy,
    check: Callable[[], None] = lambda: None,
) -> list[float]:
    """Adaptive stopping: add runs (half as many again each round, no further than the cap)
    until :func:`is_precise` or the runs' measured time reaches ``max_timed_s``."""
    cap_ms = policy.max_timed_s * 1000.0
    total_ms = sum(times)
    while total_ms < cap_ms and not is_precise(times, policy.median_ci_rel):
        mean_ms = total_ms / len(times)
        extra = min(max(len(times) // 2, 1), max(math.ceil((cap_ms - total_ms) / mean_ms), 1))
        more = collect(backend, prepared, extra, 0.0, check)
        times = times + more
        total_ms += sum(more)
    return times


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
