"""The measurement policy: minimums, stability and interference limits, stopping rules.

Defaults follow design section 4 and issue 16; tests and a user in a hurry pass smaller ones
(``max_timed_s=0`` turns adaptive stopping off, ``max_disturbed_tries=1`` re-measuring).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class MeasurementPolicy:
    """How long to warm up and to time, and when a result is unstable or disturbed.

    Interference limits: ``max_other_cpu`` (mean cores other processes kept busy during the
    timed phase), ``max_steal_share`` (hypervisor steal / all CPU time), ``min_clock_ratio``
    (the fastest core's clock against its maximum), ``max_thermal_status`` (Android's
    ``THERMAL_STATUS_*``; 0 = none). Timed phases are judged in windows of about
    ``quiet_window_s``; a disturbed window's runs are set aside and re-measured after waiting
    up to ``max_quiet_wait_s`` for a quiet window; ``max_disturbed_tries`` disturbed windows
    in a row end the phase as disturbed. Adaptive stopping keeps timing after the
    minimums until the 95 % CI of the median is within ``median_ci_rel`` of it or the
    phase's measured time reaches ``max_timed_s``.
    """

    warmup_min_runs: int = 10
    warmup_min_s: float = 0.2
    timed_min_runs: int = 20
    timed_min_s: float = 1.0
    max_cv: float = 0.05
    reruns_when_unstable: int = 1
    profile_runs: int = 10
    max_other_cpu: float = 0.10
    max_steal_share: float = 0.02
    min_clock_ratio: float = 0.85
    max_thermal_status: int = 0
    max_disturbed_tries: int = 3
    quiet_window_s: float = 1.0
    max_quiet_wait_s: float = 10.0
    median_ci_rel: float = 0.01
    max_timed_s: float = 10.0

    def __post_init__(self) -> None:
        if self.warmup_min_runs < 0 or self.timed_min_runs < 2 or self.profile_runs < 1:
            raise ValueError("need warmup_min_runs >= 0, timed_min_runs >= 2, profile_runs >= 1")
        if min(self.warmup_min_s, self.timed_min_s) < 0 or self.max_cv <= 0:
            raise ValueError("durations must be >= 0 and max_cv > 0")
        if self.reruns_when_unstable < 0:
            raise ValueError("reruns_when_unstable must be >= 0")
        if self.max_disturbed_tries < 1:
            raise ValueError("max_disturbed_tries must be >= 1 (1: never re-measure)")
        if min(self.max_other_cpu, self.max_steal_share, self.max_thermal_status) < 0:
            raise ValueError("max_other_cpu, max_steal_share, max_thermal_status must be >= 0")
        if not 0 < self.min_clock_ratio <= 1 or not 0 < self.median_ci_rel < 1:
            raise ValueError("min_clock_ratio must be in (0, 1] and median_ci_rel in (0, 1)")
        if self.quiet_window_s <= 0 or min(self.max_quiet_wait_s, self.max_timed_s) < 0:
            raise ValueError("quiet_window_s must be > 0; max_quiet_wait_s, max_timed_s >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
