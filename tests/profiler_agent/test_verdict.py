from __future__ import annotations

import pytest

from profiler_agent.evidence import merge_windows
from profiler_agent.policy import MeasurementPolicy
from profiler_agent.verdict import find_disturbance, judge

POLICY = MeasurementPolicy()


def test_others_cpu_at_the_limit_is_clean_and_above_it_disturbed() -> None:
    clean = judge({"other_cpu_cores": 0.10, "steal_share": 0.0}, 0.01, POLICY, tries=1)
    assert (clean.verdict, clean.figure, clean.threshold) == ("clean", 0.01, 0.05)
    busy = judge({"other_cpu_cores": 0.93, "steal_share": 0.0}, 0.01, POLICY, tries=2)
    assert (busy.verdict, busy.figure, busy.threshold, busy.tries) == ("disturbed", 0.93, 0.1, 2)
    assert "0.93 cores" in busy.reason
    custom = MeasurementPolicy(max_other_cpu=1.0)
    assert judge({"other_cpu_cores": 0.93}, 0.01, custom, tries=1).verdict == "clean"


def test_steal_and_clock_rules() -> None:
    stolen = judge({"steal_share": 0.05}, 0.0, POLICY, tries=1)
    assert (stolen.verdict, stolen.figure, stolen.threshold) == ("disturbed", 0.05, 0.02)
    slow = {"cpu_mhz_max": 1200.0, "cpu_max_mhz": 3000.0}
    verdict = judge(slow, 0.0, POLICY, tries=1)
    assert (verdict.verdict, verdict.figure, verdict.threshold) == ("disturbed", 0.4, 0.85)
    assert judge({"cpu_mhz_max": 2600.0, "cpu_max_mhz": 3000.0}, 0.0, POLICY, 1).verdict == (
        "clean"
    )
    assert judge({"cpu_mhz_max": 2600.0}, 0.0, POLICY, 1).verdict == "clean"  # no maximum known
    # idle cores clock down, so the clock does not keep a waiting agent from seeing quiet
    assert find_disturbance(slow, POLICY, idle=True) is None
    assert find_disturbance({"other_cpu_cores": 0.5}, POLICY, idle=True) is not None


@pytest.mark.parametrize(
    ("evidence", "verdict"),
    [
        ({"gpu_other_processes": 0, "gpu_throttle_reasons": ["gpu_idle"]}, "clean"),
        ({"gpu_other_processes": 1}, "disturbed"),
        ({"gpu_throttle_reasons": ["gpu_idle", "sw_thermal_slowdown"]}, "disturbed"),
        ({"gpu_throttle_reasons": ["sw_power_cap", "applications_clocks_setting"]}, "clean"),
        ({"gpu_throttle_reasons": ["sw_power_cap", "hw_power_brake_slowdown"]}, "disturbed"),
        ({"thermal_status": 0}, "clean"),
        ({"thermal_status": 2}, "disturbed"),
    ],
)
def test_gpu_and_phone_rules(evidence: dict[str, object], verdict: str) -> None:
    assert judge(evidence, 0.0, POLICY, tries=1).verdict == verdict


def test_high_cv_without_evidence_is_unstable_and_disturbance_wins() -> None:
    unstable = judge({"other_cpu_cores": 0.0}, 0.08, POLICY, tries=2)
    assert (unstable.verdict, unstable.figure, unstable.threshold) == ("unstable", 0.08, 0.05)
    assert judge({"other_cpu_cores": 0.5}, 0.08, POLICY, tries=1).verdict == "disturbed"
    assert judge({}, 0.05, POLICY, tries=1).to_dict() == {
        "verdict": "clean",
        "reason": "no interference seen; CV 5.0% within 5.0%",
        "figure": 0.05,
        "threshold": 0.05,
        "tries": 1,
    }


def test_a_phase_reports_its_worst_window() -> None:
    merged = merge_windows(
        [
            {"interval_s": 1.0, "other_cpu_cores": 0.02, "cpu_mhz_max": 2900.0, "usable_cores": 2},
            {"interval_s": 0.5, "other_cpu_cores": 0.07, "cpu_mhz_max": 2400.0, "usable_cores": 2},
            {"gpu_throttle_reasons": ["sw_power_cap"], "cpu_freqs_mhz": [1, 2]},
            {"gpu_throttle_reasons": ["hw_slowdown"], "cpu_freqs_mhz": [3, 4]},
        ]
    )
    assert merged == {
        "interval_s": 1.5,
        "other_cpu_cores": 0.07,
        "cpu_mhz_max": 2400.0,
        "usable_cores": 2,
        "gpu_throttle_reasons": ["hw_slowdown", "sw_power_cap"],
        "cpu_freqs_mhz": [3, 4],
    }
    assert find_disturbance(merged, MeasurementPolicy()) is not None  # hw_slowdown kept


def test_a_high_cv_with_the_median_pinned_is_clean_and_says_why() -> None:
    """The CV above the limit is unstable only while the median's interval is wider than
    +-``median_ci_rel`` (or unknown: a tool's summary has no runs to bound it)."""
    pinned = judge({"other_cpu_cores": 0.0}, 0.08, POLICY, tries=1, median_spread=0.009)
    assert (pinned.verdict, pinned.figure, pinned.threshold) == ("clean", 0.009, 0.01)
    assert "CV 8.0% above 5.0%" in pinned.reason and "+-0.90%" in pinned.reason
    loose = judge({"other_cpu_cores": 0.0}, 0.08, POLICY, tries=2, median_spread=0.011)
    assert (loose.verdict, loose.figure, loose.threshold) == ("unstable", 0.08, 0.05)
    assert "+-1.10%" in loose.reason
    assert judge({}, 0.08, POLICY, tries=1, median_spread=None).verdict == "unstable"
    custom = MeasurementPolicy(median_ci_rel=0.02)
    assert judge({}, 0.08, custom, tries=1, median_spread=0.011).verdict == "clean"
    assert judge({"other_cpu_cores": 0.5}, 0.08, POLICY, 1, median_spread=0.001).verdict == (
        "disturbed"
    )
