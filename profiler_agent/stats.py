"""Summary statistics of per-run latencies (milliseconds)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


class InvalidTimings(ValueError):
    """A backend produced a time that cannot be a latency (NaN, inf, zero or negative)."""


@dataclass(frozen=True)
class LatencyStats:
    """Derived statistics of one timed phase; ``std_ms`` is the sample std (ddof=1).

    Percentiles are None only where a tool reported aggregate statistics without them.
    """

    runs: int
    total_ms: float
    median_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    p90_ms: float | None
    p99_ms: float | None
    std_ms: float
    cv: float

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def validate_times(times_ms: Sequence[float], source: str = "backend") -> np.ndarray:
    """The times as a float64 array; raises :class:`InvalidTimings` naming the first bad run."""
    values = np.asarray(times_ms, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise InvalidTimings(f"{source} returned no run times")
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0.0))
    if bad.size:
        i = int(bad[0])
        raise InvalidTimings(
            f"{source} returned an invalid time on run {i}: {float(values[i])} ms "
            "(times must be finite and positive)"
        )
    return values


def summarize(times_ms: Sequence[float], source: str = "backend") -> LatencyStats:
    """Median, mean, min, max, p90, p99, std and CV (std / mean) of valid run times."""
    values = validate_times(times_ms, source)
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    p90, p99 = np.percentile(values, [90.0, 99.0])
    return LatencyStats(
        runs=int(values.size),
        total_ms=float(values.sum()),
        median_ms=float(np.median(values)),
        mean_ms=mean,
        min_ms=float(values.min()),
        max_ms=float(values.max()),
        p90_ms=float(p90),
        p99_ms=float(p99),
        std_ms=std,
        cv=std / mean,
    )


def median_ci(times_ms: Sequence[float], z: float = 1.96) -> tuple[float, float] | None:
    """Distribution-free confidence interval of the median from order statistics.

    With the sorted times x(1) <= ... <= x(n), the interval [x(j), x(k)] with
    j = floor(n/2 - z*sqrt(n)/2) and k = ceil(n/2 + 1 + z*sqrt(n)/2) covers the true median
    with probability ~95 % for z = 1.96, whatever the distribution (Le Boudec, "Performance
    Evaluation of Computer and Communication Systems", EPFL Press 2010, Theorem 2.1 and
    Table A.1). None where n is too small for those ranks (n < 8 at 95 %).
    """
    values = np.sort(np.asarray(times_ms, dtype=np.float64))
    n = int(values.size)
    half_width = z * math.sqrt(n) / 2.0
    j = math.floor(n / 2.0 - half_width)
    k = math.ceil(n / 2.0 + 1.0 + half_width)
    if j < 1 or k > n:
        return None
    return float(values[j - 1]), float(values[k - 1])


def median_spread(median_ms: float, interval: tuple[float, float] | None) -> float | None:
    """How far the median's 95 % interval (:func:`median_ci`) reaches from it, relative (the
    farther end): how closely the runs pin the reported figure, whatever their CV; None
    without an interval."""
    if interval is None:
        return None
    low, high = interval
    return max(median_ms - low, high - median_ms) / median_ms
