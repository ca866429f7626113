from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from profiler_agent.backends import BackendSettings, create_backend
from profiler_agent.backends.base import Backend, Prepared, TimingKind
from profiler_agent.evidence import Evidence, EvidenceCollector
from profiler_agent.protocol import MeasurementPolicy, measure
from profiler_agent.stats import InvalidTimings, LatencyStats

FAST = MeasurementPolicy(
    warmup_min_runs=2,
    warmup_min_s=0.0,
    timed_min_runs=5,
    timed_min_s=0.02,
    max_timed_s=0.0,
    max_disturbed_tries=1,
)


class ScriptedEvidence(EvidenceCollector):
    """Evidence by interval: ``script[i]`` for the i-th interval, the last one after that."""

    def __init__(self, script: Sequence[Mapping[str, Any]] = ({},)) -> None:
        self.script = list(script)
        self.intervals = 0

    def start(self) -> None:
        pass

    def stop(self) -> Evidence:
        self.intervals += 1
        return dict(self.script[min(self.intervals, len(self.script)) - 1])


class ScriptedBackend(Backend[Prepared]):
    """Deterministic backend for the protocol's arithmetic: returns scripted run times."""

    name = "scripted"

    def __init__(self, times: Iterator[float], evidence: ScriptedEvidence | None = None) -> None:
        self.times = times
        self.batches: list[int] = []
        self.evidence = evidence or ScriptedEvidence()

    def prepare(
        self, model_path: Path, input_shape: Sequence[int] | None, settings: BackendSettings
    ) -> Prepared:
        return Prepared(model_path, (1,), {})

    def run(self, prepared: Prepared) -> float:
        return next(self.times)

    def run_batch(self, prepared: Prepared, runs: int) -> list[float]:
        self.batches.append(runs)
        return super().run_batch(prepared, runs)

    def evidence_collector(self, prepared: Prepared) -> EvidenceCollector:
        return self.evidence

    def describe_environment(self) -> dict[str, Any]:
        return {}


def constant(ms: float) -> Iterator[float]:
    while True:
        yield ms


def alternating(low: float, high: float) -> Iterator[float]:
    while True:
        yield low
        yield high


def test_default_policy_meets_both_minimums_of_each_phase() -> None:
    backend = ScriptedBackend(constant(5.0))
    result = measure(backend, Prepared(Path("m"), (1,), {}))
    # warm-up: max(10 runs, 0.2 s / 5 ms = 40 runs); timed: max(20 runs, 1 s / 5 ms = 200)
    assert result.warmup_runs == 40
    assert len(result.times_ms) == 200
    assert result.stats.median_ms == 5.0
    assert (result.unstable, result.attempts) == (False, 1)
    assert backend.batches == [10, 30, 20, 180]


def test_slow_runs_stop_at_the_run_minimum() -> None:
    backend = ScriptedBackend(constant(100.0))
    result = measure(backend, Prepared(Path("m"), (1,), {}))
    assert result.warmup_runs == 10  # 1 s of warm-up already exceeds 0.2 s
    assert len(result.times_ms) == 20  # 2 s exceeds 1 s
    assert result.stats.total_ms == 2000.0


def test_unstable_phase_is_rerun_once_then_flagged() -> None:
    backend = ScriptedBackend(alternating(1.0, 3.0))  # CV 0.5
    result = measure(backend, Prepared(Path("m"), (1,), {}), FAST)
    assert result.unstable
    assert result.attempts == 2
    assert result.stats.cv > 0.05


def test_rerun_that_is_stable_is_not_flagged() -> None:
    def script() -> Iterator[float]:
        # warm-up: 2 runs; first timed phase: 5 runs (9 ms), then 7 more to pass 20 ms
        yield from [1.0, 3.0] * 7
        yield from constant(2.0)

    result = measure(ScriptedBackend(script()), Prepared(Path("m"), (1,), {}), FAST)
    assert (result.unstable, result.attempts) == (False, 2)
    assert set(result.times_ms) == {2.0}


def slow_one_in_three(ms: float) -> Iterator[float]:
    """A shared host: every third run three times slower (CV ~ 0.7), the rest at ``ms``."""
    for i in itertools.count():
        yield ms * 3.0 if i % 3 == 2 else ms


FAST_PINNED = MeasurementPolicy(**{**FAST.to_dict(), "timed_min_runs": 200})


def test_spread_runs_with_the_median_pinned_are_clean_and_not_re_run() -> None:
    """200 runs whose CV is far above 5 % while their median's 95 % interval is a point: the
    figure reported is known, so the phase is ``clean`` at once; 20 such runs do not pin it
    (the interval reaches the slow third) and stay ``unstable`` after the re-run."""
    pinned = measure(
        ScriptedBackend(slow_one_in_three(5.0)), Prepared(Path("m"), (1,), {}), FAST_PINNED
    )
    assert pinned.stats.cv > 0.05 and pinned.unstable  # the CV flag is the CV's alone
    assert (pinned.verdict.verdict, pinned.attempts) == ("clean", 1)
    assert (pinned.verdict.figure, pinned.verdict.threshold) == (0.0, 0.01)
    few = measure(
        ScriptedBackend(slow_one_in_three(5.0)),
        Prepared(Path("m"), (1,), {}),
        MeasurementPolicy(**{**FAST_PINNED.to_dict(), "timed_min_runs": 20}),
    )
    assert (few.verdict.verdict, few.attempts) == ("unstable", 2)


def test_no_rerun_when_the_policy_says_so() -> None:
    policy = MeasurementPolicy(
        warmup_min_runs=0,
        warmup_min_s=0.0,
        timed_min_runs=4,
        timed_min_s=0.0,
        reruns_when_unstable=0,
        max_timed_s=0.0,
    )
    result = measure(ScriptedBackend(alternating(1.0, 3.0)), Prepared(Path("m"), (1,), {}), policy)
    assert (result.unstable, result.attempts, result.warmup_runs) == (True, 1, 0)
    assert result.times_ms == (1.0, 3.0, 1.0, 3.0)


@pytest.mark.parametrize("bad", [float("nan"), -1.0, 0.0, float("inf")])
def test_invalid_run_times_are_refused(bad: float) -> None:
    with pytest.raises(InvalidTimings, match="invalid time"):
        measure(ScriptedBackend(constant(bad)), Prepared(Path("m"), (1,), {}), FAST)


def test_check_hook_abandons_the_measurement() -> None:
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise TimeoutError("deadline")

    with pytest.raises(TimeoutError):
        measure(ScriptedBackend(constant(1.0)), Prepared(Path("m"), (1,), {}), FAST, check)


class SummaryBackend(ScriptedBackend):
    """A tool that reports statistics only (like TFLite's benchmark_model)."""

    def __init__(self, cvs: list[float]) -> None:
        super().__init__(constant(1.0))
        self.cvs = cvs
        self.calls: list[dict[str, Any]] = []

    def timing_kind(self, prepared: Prepared) -> TimingKind:
        return "summary"

    def run_summary(self, prepared: Prepared, **kwargs: Any) -> LatencyStats:
        self.calls.append(kwargs)
        cv = self.cvs[len(self.calls) - 1]
        return LatencyStats(kwargs["runs"], 20.0, 1.0, 1.0, 0.9, 1.2, None, None, cv, cv)


def test_summary_backends_get_the_minimums_and_the_rerun_rule() -> None:
    backend = SummaryBackend(cvs=[0.2, 0.01])
    result = measure(backend, Prepared(Path("m"), (1,), {}))
    assert backend.calls[0] == {"warmup_runs": 10, "warmup_s": 0.2, "runs": 20, "min_s": 1.0}
    assert (result.attempts, result.unstable, result.timing_kind) == (2, False, "summary")
    assert result.times_ms == ()


def test_real_ort_measurement_with_a_fast_policy(tiny_onnx: Path) -> None:
    backend = create_backend("ort-cpu")
    prepared = backend.prepare(tiny_onnx, None, BackendSettings(threads=1))
    result = measure(backend, prepared, FAST)
    assert len(result.times_ms) >= 5
    assert sum(result.times_ms) >= 20.0
    assert result.warmup_runs >= 2
    assert 0 < result.stats.min_ms <= result.stats.median_ms <= result.stats.max_ms
    assert result.attempts in (1, 2)
    assert result.unstable == (result.stats.cv > FAST.max_cv)
    assert result.verdict.verdict in ("clean", "unstable", "disturbed")
    assert result.evidence["own_cpu_cores"] > 0  # the real CPU collector watched the phase
    as_dict = result.to_dict()
    assert as_dict["median_ms"] == result.stats.median_ms
    assert as_dict["policy"]["timed_min_runs"] == 5


def test_long_phases_are_cut_into_batches_so_cancel_is_seen() -> None:
    backend = ScriptedBackend(constant(1.0))
    checks: list[int] = []
    policy = MeasurementPolicy(
        warmup_min_runs=0, warmup_min_s=0.0, timed_min_runs=5, timed_min_s=10.0
    )
    result = measure(
        backend, Prepared(Path("m"), (1,), {}), policy, check=lambda: checks.append(len(checks))
    )
    assert len(result.times_ms) == 10_000
    assert max(backend.batches) <= 2000  # BATCH_CAP_S of 1 ms runs
    assert len(checks) >= 10_000 / 2000


def random_times(draw: Any) -> Iterator[float]:
    while True:
        yield from draw(1000).tolist()


ADAPTIVE = MeasurementPolicy(
    warmup_min_runs=0, warmup_min_s=0.0, timed_min_runs=20, timed_min_s=0.0, max_timed_s=10.0
)


def test_adaptive_stopping_stops_at_the_minimums_on_a_tight_distribution() -> None:
    rng = np.random.default_rng(0)
    backend = ScriptedBackend(random_times(lambda n: rng.normal(10.0, 0.02, n)))
    result = measure(backend, Prepared(Path("m"), (1,), {}), ADAPTIVE)
    assert len(result.times_ms) == 20
    assert result.median_ci_ms is not None
    low, high = result.median_ci_ms
    assert result.median_ms * 0.99 <= low <= result.median_ms <= high <= result.median_ms * 1.01
    assert result.to_dict()["median_ci_ms"] == [low, high]


def test_adaptive_stopping_runs_longer_until_the_median_is_known_to_1_percent() -> None:
    rng = np.random.default_rng(1)
    backend = ScriptedBackend(random_times(lambda n: rng.normal(10.0, 0.5, n)))
    result = measure(backend, Prepared(Path("m"), (1,), {}), ADAPTIVE)
    assert len(result.times_ms) > 20 and result.stats.total_ms < 10_000.0
    low, high = result.median_ci_ms or (0.0, 0.0)
    assert max(result.median_ms - low, high - result.median_ms) <= 0.01 * result.median_ms


def test_adaptive_stopping_stops_at_the_time_cap_on_a_wide_distribution() -> None:
    rng = np.random.default_rng(2)
    backend = ScriptedBackend(random_times(lambda n: rng.lognormal(np.log(10.0), 1.0, n)))
    policy = MeasurementPolicy(
        warmup_min_runs=0, warmup_min_s=0.0, timed_min_runs=20, timed_min_s=0.0, max_timed_s=2.0
    )

    def check() -> None:  # a missing cap fails here instead of running on
        if sum(backend.batches) > 10_000:
            raise AssertionError("adaptive stopping ran past its time cap")

    result = measure(backend, Prepared(Path("m"), (1,), {}), policy, check)
    last_batch = backend.batches[-1]
    assert result.stats.total_ms >= 2000.0
    assert result.stats.total_ms - sum(result.times_ms[-last_batch:]) < 2000.0
    low, high = result.median_ci_ms or (0.0, 0.0)
    assert high - low > 0.02 * result.median_ms  # still wide: the cap, not precision, stopped it


QUICK_WAIT = MeasurementPolicy(
    warmup_min_runs=0,
    warmup_min_s=0.0,
    timed_min_runs=5,
    timed_min_s=0.0,
    max_timed_s=0.0,
    quiet_window_s=0.05,
    max_quiet_wait_s=0.5,
)


def test_a_disturbed_window_is_set_aside_and_re_measured_after_quiet_returns() -> None:
    evidence = ScriptedEvidence([{"other_cpu_cores": 0.9}, {"other_cpu_cores": 0.9}, {}])
    backend = ScriptedBackend(constant(2.0), evidence)
    result = measure(backend, Prepared(Path("m"), (1,), {}), QUICK_WAIT)
    # window 1 disturbed, quiet wait 1 still busy, wait 2 quiet, window 2 clean
    assert evidence.intervals == 4
    assert (result.verdict.verdict, result.verdict.tries, result.attempts) == ("clean", 1, 1)
    assert 0.1 <= result.evidence["waited_for_quiet_s"] < 0.5
    assert result.evidence["tries"] == 1
    assert result.evidence["windows"] == 2 and result.evidence["disturbed_windows"] == 1
    assert result.evidence["set_aside_runs"] == 5  # the disturbed window's, not reported
    assert len(result.times_ms) == 5 and backend.batches == [5, 5]


def test_a_burst_of_load_costs_its_window_not_the_phase() -> None:
    """Runs of 100 ms in windows of 0.3 s (3 runs): the load hits window 3 only. Its runs
    (10x slower) are set aside, the others kept, and the median is the quiet one."""
    warmup_and_two_windows = [100.0] * 7
    backend = ScriptedBackend(
        itertools.chain(warmup_and_two_windows, [1000.0] * 3, constant(100.0)),
        ScriptedEvidence([{}, {}, {"other_cpu_cores": 0.9}, {}]),
    )
    policy = MeasurementPolicy(
        warmup_min_runs=1,
        warmup_min_s=0.0,
        timed_min_runs=9,
        timed_min_s=0.0,
        max_timed_s=0.0,
        quiet_window_s=0.3,
        max_quiet_wait_s=0.0,
    )
    result = measure(backend, Prepared(Path("m"), (1,), {}), policy)
    assert result.verdict.verdict == "clean" and result.median_ms == 100.0
    assert result.times_ms == (100.0,) * 9 and backend.batches[1:] == [3, 3, 3, 3]
    assert result.evidence["disturbed_windows"] == 1 and result.evidence["windows"] == 4


def test_an_on_off_load_costs_its_windows_however_often_it_returns() -> None:
    """Every other window disturbed, with two allowed in a row: the phase still ends clean
    on the quiet windows' runs (a total count of disturbed windows would give up)."""
    backend = ScriptedBackend(
        constant(2.0), ScriptedEvidence([{"other_cpu_cores": 0.9}, {}] * 4 + [{}])
    )
    policy = MeasurementPolicy(  # windows of 5 runs of 2 ms
        **{
            **QUICK_WAIT.to_dict(),
            "warmup_min_runs": 1,
            "timed_min_runs": 20,
            "quiet_window_s": 0.01,
            "max_disturbed_tries": 2,
            "max_quiet_wait_s": 0.0,
        }
    )
    result = measure(backend, Prepared(Path("m"), (1,), {}), policy)
    assert result.verdict.verdict == "clean" and len(result.times_ms) == 20
    assert result.evidence["disturbed_windows"] == 4 and result.evidence["windows"] == 8


def test_the_last_allowed_disturbed_window_ends_the_phase_disturbed_with_all_its_runs() -> None:
    backend = ScriptedBackend(constant(2.0), ScriptedEvidence([{"other_cpu_cores": 0.5}]))
    policy = MeasurementPolicy(**{**QUICK_WAIT.to_dict(), "max_disturbed_tries": 3})
    result = measure(backend, Prepared(Path("m"), (1,), {}), policy)
    assert result.verdict.verdict == "disturbed" and result.verdict.figure == 0.5
    assert result.evidence["windows"] == result.evidence["disturbed_windows"] == 3
    assert len(result.times_ms) == 15 and result.evidence["set_aside_runs"] == 0


def test_waiting_for_quiet_still_consults_check() -> None:
    evidence = ScriptedEvidence([{"other_cpu_cores": 0.9}])
    backend = ScriptedBackend(constant(2.0), evidence)

    def check() -> None:
        if evidence.intervals >= 1:  # the first phase is over: we are waiting
            raise TimeoutError("canceled while waiting")

    policy = MeasurementPolicy(**{**QUICK_WAIT.to_dict(), "max_quiet_wait_s": 60.0})
    with pytest.raises(TimeoutError, match="while waiting"):
        measure(backend, Prepared(Path("m"), (1,), {}), policy, check)
    assert backend.batches == [5]  # one timed phase, then the wait was abandoned


def test_unstable_phases_are_re_run_and_disturbed_windows_are_not_phases() -> None:
    evidence = ScriptedEvidence([{"other_cpu_cores": 0.9}, {}])
    backend = ScriptedBackend(alternating(1.0, 3.0), evidence)  # CV 0.5: always unstable
    result = measure(backend, Prepared(Path("m"), (1,), {}), QUICK_WAIT)
    # a disturbed window, quiet, then an unstable phase re-run once: two timed phases
    assert (result.verdict.verdict, result.attempts, result.unstable) == ("unstable", 2, True)
