"""The verdict on one timed phase: ``clean``, ``unstable`` or ``disturbed`` (issue 16).

``disturbed``: the evidence says something else ran (or the device slowed itself): others'
CPU use, steal, a CPU clock below its maximum, other GPU processes, GPU clock events other
than idle, phone thermal throttling. ``unstable``: no such evidence, but the CV of the run
times is above the limit and the 95 % interval of their median is wider than +-1 % of it:
neither the runs nor the figure reported settle. Each verdict carries its deciding figure and
limit.

Rules marked ``while_idle`` also tell whether the device is quiet while the agent waits
between phases; clock rules do not (idle cores clock down).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from profiler_agent.policy import MeasurementPolicy

VerdictName = Literal["clean", "unstable", "disturbed"]
# Clock-event reasons that are a GPU's steady state rather than interference: idle, clocks
# an operator set, and the software power cap a fully loaded GPU sits at (its effect is in
# every measurement alike and the sentinel's speed index tracks it). Thermal and hardware
# slowdowns and the power brake make a run slower than the next one: those disturb.
BENIGN_GPU_REASONS = frozenset(
    {
        "gpu_idle",
        "applications_clocks_setting",
        "sw_power_cap",
        "sync_boost",
        "display_clock_setting",
    }
)


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictName
    reason: str
    figure: float | None
    threshold: float | None
    tries: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Disturbance:
    reason: str
    figure: float
    threshold: float


@dataclass(frozen=True)
class _Rule:
    while_idle: bool
    check: Callable[[Mapping[str, Any], MeasurementPolicy], Disturbance | None]


def _other_cpu(ev: Mapping[str, Any], policy: MeasurementPolicy) -> Disturbance | None:
    cores = ev.get("other_cpu_cores")
    if cores is None or cores <= policy.max_other_cpu:
        return None
    return Disturbance(
        f"other processes kept {cores:.2f} cores busy (limit {policy.max_other_cpu:.2f})",
        float(cores),
        policy.max_other_cpu,
    )


def _steal(ev: Mapping[str, Any], policy: MeasurementPolicy) -> Disturbance | None:
    share = ev.get("steal_share")
    if share is None or share <= policy.max_steal_share:
        return None
    return Disturbance(
        f"the hypervisor stole {share:.1%} of CPU time (limit {policy.max_steal_share:.1%})",
        float(share),
        policy.max_steal_share,
    )


def _cpu_clock(ev: Mapping[str, Any], policy: MeasurementPolicy) -> Disturbance | None:
    now, top = ev.get("cpu_mhz_max"), ev.get("cpu_max_mhz")
    if now is None or not top or now / top >= policy.min_clock_ratio:
        return None
    return Disturbance(
        f"the fastest core ran at {now / top:.0%} of its maximum clock "
        f"(limit {policy.min_clock_ratio:.0%})",
        round(now / top, 4),
        policy.min_clock_ratio,
    )


def _gpu_processes(ev: Mapping[str, Any], policy: MeasurementPolicy) -> Disturbance | None:
    others = ev.get("gpu_other_processes")
    if not others:
        return None
    return Disturbance(f"{others} other process(es) held the GPU", float(others), 0.0)


def _gpu_throttle(ev: Mapping[str, Any], policy: MeasurementPolicy) -> Disturbance | None:
    reasons = sorted(set(ev.get("gpu_throttle_reasons") or ()) - BENIGN_GPU_REASONS)
    if not reasons:
        return None
    return Disturbance(f"GPU clock events: {', '.join(reasons)}", float(len(reasons)), 0.0)


def _thermal(ev: Mapping[str, Any], policy: MeasurementPolicy) -> Disturbance | None:
    status = ev.get("thermal_status")
    if status is None or status <= policy.max_thermal_status:
        return None
    return Disturbance(
        f"the phone's thermal status is {status} (limit {policy.max_thermal_status})",
        float(status),
        float(policy.max_thermal_status),
    )


RULES = (
    _Rule(True, _other_cpu),
    _Rule(True, _steal),
    _Rule(False, _cpu_clock),
    _Rule(True, _gpu_processes),
    _Rule(True, _gpu_throttle),
    _Rule(True, _thermal),
)


def find_disturbance(
    evidence: Mapping[str, Any], policy: MeasurementPolicy, *, idle: bool = False
) -> Disturbance | None:
    """The first rule the evidence breaks; ``idle`` checks only the rules that apply while
    the agent itself is waiting."""
    for rule in RULES:
        if idle and not rule.while_idle:
            continue
        found = rule.check(evidence, policy)
        if found is not None:
            return found
    return None


def judge(
    evidence: Mapping[str, Any],
    cv: float,
    policy: MeasurementPolicy,
    tries: int,
    median_spread: float | None = None,
) -> Verdict:
    """Disturbed if a rule is broken; else unstable if the CV is above ``max_cv`` and the
    median is not pinned either (``median_spread``, how far its 95 % interval reaches from it,
    relative, above ``median_ci_rel``, or unknown); else clean. A shared host spreads the runs of
    a short op far past the CV limit while the median, the figure reported, stays known
    within +-1 %: that is a trustworthy figure, and the reason says so."""
    found = find_disturbance(evidence, policy)
    if found is not None:
        return Verdict("disturbed", found.reason, found.figure, found.threshold, tries)
    if cv <= policy.max_cv:
        reason = f"no interference seen; CV {cv:.1%} within {policy.max_cv:.1%}"
        return Verdict("clean", reason, cv, policy.max_cv, tries)
    if median_spread is not None and median_spread <= policy.median_ci_rel:
        reason = (
            f"no interference seen; CV {cv:.1%} above {policy.max_cv:.1%}, but the median's "
            f"95% CI is within +-{median_spread:.2%} (limit {policy.median_ci_rel:.1%})"
        )
        return Verdict("clean", reason, median_spread, policy.median_ci_rel, tries)
    ci_note = "" if median_spread is None else f", the median's 95% CI +-{median_spread:.2%}"
    reason = f"CV {cv:.1%} above the limit {policy.max_cv:.1%}{ci_note}"
    return Verdict("unstable", reason, cv, policy.max_cv, tries)
