"""The measurement protocol (design section 4): warm up, time, judge, re-measure.

Minimums are on the runs' own measured time (the sum of per-run times), so they hold for the
returned raw times whatever the harness overhead: warm-up >= 10 runs and >= 0.2 s, then
>= 20 timed runs and >= 1 s. After the minimums, adaptive stopping keeps timing until the
95 % confidence interval of the median (:func:`~profiler_agent.stats.median_ci`) is within
+-1 % of it, or the phase's measured time reaches ``max_timed_s``; the median is the reported
latency. A timed phase is cut into windows of about ``quiet_window_s`` of runs, each watched
by the backend's evidence collector and judged (:mod:`profiler_agent.verdict`): the runs of a
disturbed window are set aside and re-measured after a bounded wait for quiet
(:mod:`profiler_agent.quiet`), so a burst of load costs a window, not the phase;
``max_disturbed_tries`` disturbed windows in a row end the phase, reported disturbed with all
its runs.
An unstable phase (CV above 5 % and its median known no better than +-1 %) is re-run
``reruns_when_unstable`` times. The last phase is reported with its evidence, its verdict and
the number of phases run. Backends that
only get a tool's aggregate statistics (``timing_kind == "summary"``) pass the minimums to the
tool and return no raw times (no CI of the median). Per-layer profiles are taken with
:func:`profile` in a separate run, after timing. The policy is injectable so tests (and a
user in a hurry) can choose smaller minimums.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from profiler_agent.backends.base import Backend, P, TimingKind
from profiler_agent.evidence import Evidence, EvidenceCollector, merge_windows
from profiler_agent.layer_profile import LayerProfile
from profiler_agent.policy import MeasurementPolicy
from profiler_agent.quiet import wait_for_quiet
from profiler_agent.stats import (
    InvalidTimings,
    LatencyStats,
    median_ci,
    median_spread,
    summarize,
    validate_times,
)
from profiler_agent.verdict import Verdict, find_disturbance, judge

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
    """Warm up, then time phases until one is not unstable or the policy's re-runs are used.

    ``check`` is called before every batch of runs and while waiting for quiet; it raises to
    abandon the measurement (lease lost, job canceled, agent stopping, deadline passed).
    """
    policy = policy or MeasurementPolicy()
    kind = backend.timing_kind(prepared)
    collector = backend.evidence_collector(prepared)
    phase: Callable[[], _Phase]
    if kind == "per_run":
        warmup = collect(backend, prepared, policy.warmup_min_runs, policy.warmup_min_s, check)
        warmup_runs = len(warmup)
        runs = _RunWindows(backend, prepared, policy, check, float(np.mean(warmup or [0.0])))
        phase = partial(
            _timed_phase, backend.name, runs.window, runs.enough, collector, policy, check
        )
    else:
        warmup_runs = policy.warmup_min_runs

        def summary_window(_: list[float]) -> tuple[list[float], LatencyStats]:
            check()
            stats = backend.run_summary(
                prepared,
                warmup_runs=policy.warmup_min_runs,
                warmup_s=policy.warmup_min_s,
                runs=policy.timed_min_runs,
                min_s=policy.timed_min_s,
            )
            return [], stats

        phase = partial(
            _timed_phase, backend.name, summary_window, lambda _: True, collector, policy, check
        )
    tries = unstable = 0
    waited_s = 0.0
    while True:
        tries += 1
        timed = phase()
        waited_s += timed.waited_s
        interval = median_ci(timed.times) if timed.times else None
        spread = median_spread(timed.stats.median_ms, interval)
        verdict = judge(timed.evidence, timed.stats.cv, policy, tries, median_spread=spread)
        if verdict.verdict == "unstable":
            unstable += 1
            if unstable <= policy.reruns_when_unstable:
                continue
        evidence = {**timed.evidence, "tries": tries, "waited_for_quiet_s": round(waited_s, 3)}
        return Measurement(
            times_ms=tuple(timed.times),
            stats=timed.stats,
            unstable=timed.stats.cv > policy.max_cv,
            attempts=tries,
            warmup_runs=warmup_runs,
            timing_kind=kind,
            policy=policy,
            evidence=evidence,
            verdict=verdict,
            median_ci_ms=interval,
        )


@dataclass(frozen=True)
class _Phase:
    """One timed phase: its runs, their statistics, the evidence of its windows."""

    times: list[float]
    stats: LatencyStats
    evidence: Evidence
    waited_s: float


Window = Callable[[list[float]], tuple[list[float], LatencyStats | None]]
"""Times one window given the runs kept so far: its runs, or a tool's statistics."""


def _timed_phase(
    name: str,
    window: Window,
    enough: Callable[[list[float]], bool],
    collector: EvidenceCollector,
    policy: MeasurementPolicy,
    check: Callable[[], None],
) -> _Phase:
    """Windows, each watched by the collector, until the kept ones are ``enough``.

    A disturbed window's runs are set aside and the agent waits (bounded) for quiet before
    the next. ``max_disturbed_tries`` disturbed windows in a row (the load never let up)
    end the phase disturbed, with every run it made and the evidence of every window; an
    on/off load only costs its windows, since every clean window adds runs until the kept
    ones are enough (bounded by the minimums and ``max_timed_s``). Otherwise the phase
    reports the kept runs with the evidence of the kept windows (worst window:
    :func:`merge_windows`)."""
    kept: list[float] = []
    kept_evidence: list[Evidence] = []
    every: list[float] = []
    every_evidence: list[Evidence] = []
    waited_s = 0.0
    disturbed = in_a_row = 0
    while True:
        collector.start()
        times, stats = window(kept)
        evidence = collector.stop()
        every += times
        every_evidence.append(evidence)
        if find_disturbance(evidence, policy) is None:
            in_a_row = 0
            kept += times
            kept_evidence.append(evidence)
            if enough(kept):
                chosen, chosen_evidence = kept, kept_evidence
                break
        else:
            disturbed += 1
            in_a_row += 1
            if in_a_row >= policy.max_disturbed_tries:
                chosen, chosen_evidence = every, every_evidence
                break
            waited_s += wait_for_quiet(collector, policy, check)
    merged = merge_windows(chosen_evidence)
    merged.update(
        windows=len(every_evidence),
        disturbed_windows=disturbed,
        set_aside_runs=len(every) - len(chosen),
    )
    return _Phase(chosen, stats or summarize(chosen, name), merged, waited_s)


class _RunWindows:
    """Windows of per-run timing: each about ``quiet_window_s`` of runs (at least one), so
    a burst of load costs one window's runs rather than the phase. The kept runs must meet
    the minimums; then adaptive stopping adds runs (half as many again per round) until the
    95 % CI of the median is within ``median_ci_rel`` or the kept runs' measured time
    reaches ``max_timed_s``."""

    def __init__(
        self,
        backend: Backend[P],
        prepared: P,
        policy: MeasurementPolicy,
        check: Callable[[], None],
        mean_ms: float,
    ) -> None:
        self.backend, self.prepared, self.policy, self.check = backend, prepared, policy, check
        self.mean_ms = mean_ms  # the warm-up's mean run time: sizes the windows (0: unknown)

    def _per_window(self, wanted: int) -> int:
        if self.mean_ms <= 0:
            return wanted
        return max(1, min(wanted, int(self.policy.quiet_window_s * 1000.0 / self.mean_ms)))

    def window(self, kept: list[float]) -> tuple[list[float], LatencyStats | None]:
        policy = self.policy
        kept_ms = sum(kept)
        if kept:
            self.mean_ms = kept_ms / len(kept)
        missing_runs = max(policy.timed_min_runs - len(kept), 0)
        missing_ms = max(policy.timed_min_s * 1000.0 - kept_ms, 0.0)
        if missing_runs or missing_ms > 0:
            runs = self._per_window(missing_runs)
            min_s = min(missing_ms / 1000.0, policy.quiet_window_s)
        else:
            left = max(math.ceil((policy.max_timed_s * 1000.0 - kept_ms) / self.mean_ms), 1)
            runs, min_s = self._per_window(min(max(len(kept) // 2, 1), left)), 0.0
        times = collect(self.backend, self.prepared, runs, min_s, self.check)
        return times, None

    def enough(self, kept: list[float]) -> bool:
        policy = self.policy
        total_ms = sum(kept)
        if len(kept) < policy.timed_min_runs or total_ms < policy.timed_min_s * 1000.0:
            return False
        return total_ms >= policy.max_timed_s * 1000.0 or is_precise(kept, policy.median_ci_rel)


def is_precise(times_ms: list[float], relative: float) -> bool:
    """Whether the 95 % CI of the median is within +-``relative`` of the median."""
    spread = median_spread(float(np.median(times_ms)), median_ci(times_ms))
    return spread is not None and spread <= relative


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
