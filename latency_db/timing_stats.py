"""Statistics of raw per-run times, derived on the server (an agent's own figures are not trusted).

The median is the reported latency (design section 4), with its distribution-free 95%
confidence interval from order statistics (Le Boudec, "Performance Evaluation of Computer and
Communication Systems", 2010, ch. 2.2: ranks n/2 -+ 0.98 sqrt(n), no assumption on the
distribution of the times); the coefficient of variation flags an unstable measurement,
unless that interval pins the median within +-``MEDIAN_CI_REL`` of it (``median_pinned``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from latency_db.errors import ValidationError

UNSTABLE_CV = 0.05
MEDIAN_CI_REL = 0.01  # a pinned median: its 95 % interval within +-1 % of it
MAX_SAMPLES = 100_000
MEDIAN_CI_Z = 1.96  # 95% two-sided


@dataclass(frozen=True)
class TimingStats:
    """Summary of the per-run times of one measurement, all in milliseconds except ``cv``."""

    n: int
    min_ms: float
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    std_ms: float
    cv: float
    median_ci_ms: tuple[float, float] | None  # None: too few runs for a 95% interval

    @property
    def unstable(self) -> bool:
        return self.cv > UNSTABLE_CV

    @property
    def median_spread(self) -> float | None:
        """:func:`median_spread` of these runs."""
        return median_spread(self.median_ms, self.median_ci_ms)

    @property
    def median_pinned(self) -> bool:
        """:func:`median_pinned` of these runs, whatever their CV."""
        return median_pinned(self.median_ms, self.median_ci_ms)


def median_spread(median_ms: float, ci_ms: tuple[float, float] | None) -> float | None:
    """How far the median's 95 % interval reaches from it (the farther end), relative; None
    without an interval."""
    if ci_ms is None:
        return None
    low, high = ci_ms
    return max(median_ms - low, high - median_ms) / median_ms


def median_pinned(median_ms: float, ci_ms: tuple[float, float] | None) -> bool:
    """Whether the median's 95 % interval lies within +-MEDIAN_CI_REL of it."""
    spread = median_spread(median_ms, ci_ms)
    return spread is not None and spread <= MEDIAN_CI_REL


def validate_times(times_ms: Sequence[object]) -> list[float]:
    """The samples as floats, or ``ValidationError`` naming the first bad one."""
    if isinstance(times_ms, (str, bytes)) or not isinstance(times_ms, Sequence):
        raise ValidationError("times_ms must be a list of numbers")
    if not times_ms:
        raise ValidationError("times_ms is empty: at least one timed run is needed")
    if len(times_ms) > MAX_SAMPLES:
        raise ValidationError(f"times_ms has {len(times_ms)} samples, at most {MAX_SAMPLES}")
    values: list[float] = []
    for i, item in enumerate(times_ms):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ValidationError(f"times_ms[{i}] is not a number: {item!r}")
        value = float(item)
        if math.isnan(value):
            raise ValidationError(f"times_ms[{i}] is NaN")
        if math.isinf(value):
            raise ValidationError(f"times_ms[{i}] is infinite")
        if value <= 0.0:
            raise ValidationError(f"times_ms[{i}] is {value}: run times must be positive")
        values.append(value)
    return values


def median_ci(sorted_values: np.ndarray) -> tuple[float, float] | None:
    """The 95% confidence interval of the median of sorted samples: the order statistics of
    ranks j = floor(n/2 - 0.98 sqrt(n)) and k = ceil(n/2 + 1 + 0.98 sqrt(n)) (1-based; Le
    Boudec 2010, Theorem 2.1), or None when n is too small for them to exist (n < 8)."""
    n = int(sorted_values.size)
    half_width = MEDIAN_CI_Z * math.sqrt(n) / 2
    low_rank = math.floor(n / 2 - half_width)
    high_rank = math.ceil(n / 2 + 1 + half_width)
    if low_rank < 1 or high_rank > n:
        return None
    return float(sorted_values[low_rank - 1]), float(sorted_values[high_rank - 1])


def compute_stats(times_ms: Sequence[object]) -> TimingStats:
    """min/median/mean/p90/p99/std/CV and the median's 95% interval of validated samples
    (sample std, ddof=1 when n > 1)."""
    values = np.sort(np.asarray(validate_times(times_ms), dtype=np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        p50, p90, p99 = (float(v) for v in np.percentile(values, [50.0, 90.0, 99.0]))
    if not all(math.isfinite(v) for v in (mean, std, p50, p90, p99)):
        raise ValidationError("times_ms overflow: their mean or spread is not a finite number")
    return TimingStats(
        n=int(values.size),
        min_ms=float(values.min()),
        median_ms=p50,
        mean_ms=mean,
        p90_ms=p90,
        p99_ms=p99,
        std_ms=std,
        cv=std / mean,
        median_ci_ms=median_ci(values),
    )
