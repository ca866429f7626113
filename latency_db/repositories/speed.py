"""A device's speed index per runtime configuration (issue 16 item 4).

index = reference median / this sentinel's median, where the reference is the median of the
first stable sentinel of that (device, runtime configuration): 1.0 at the reference, 0.8 when
the device runs 20 % slower. A sentinel is stable when nothing disturbed it and either its CV
is within the limit or the 95 % interval of its median is within +-``MEDIAN_CI_REL`` of it: a
shared host spreads the runs of a small network far past the CV limit while its median stays
put (a drift run on a 2-core VM: sentinel CVs of 17-32 %, each median known within +-0.84 %),
and the index is a ratio of medians. Such a sentinel is now stored ``clean``
(``latency_db.verdicts.settle_verdict``); rows stored ``unstable`` before that rule count when
their median is pinned. Every later stable sentinel adds a point; any other is recorded at
the index of its time but does not move it. Every measurement stores the index of its time:
the latest stable point before it (a stable sentinel carries its own). Measurements before
the first stable sentinel (old data, imports, a device whose sentinel never came out stable)
have none and are left as measured by normalization (:func:`normalized_ms`).

Normalization reads the series again: a measurement between two stable sentinels is taken
at the index interpolated linearly in time between them (bracketing, as an analytical run
is corrected between the standards measured before and after it), since the speed moves
between sentinels rather than jumping at the next one; after the last one, at that one's.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.models import Device, Measurement, RuntimeConfig, SpeedSample
from latency_db.timing_stats import MEDIAN_CI_REL, median_pinned
from latency_db.verdicts import Verdict


def stable_sentinel(verdict: Verdict, median_ms: float, ci_ms: tuple[float, float] | None) -> bool:
    """Whether a sentinel moves the series (see the module): clean, or unstable by its CV
    only with its median's interval within +-MEDIAN_CI_REL."""
    if verdict is Verdict.CLEAN:
        return True
    return verdict is Verdict.UNSTABLE and median_pinned(median_ms, ci_ms)


def stable_sentinel_measurement(sentinel: Measurement) -> bool:
    """:func:`stable_sentinel` of a stored sentinel measurement."""
    low, high = sentinel.median_ci_low_ms, sentinel.median_ci_high_ms
    ci = None if low is None or high is None else (low, high)
    return stable_sentinel(Verdict(sentinel.verdict), sentinel.median_ms, ci)


def _stable_sentinel_clause() -> ColumnElement[bool]:
    """:func:`stable_sentinel` in SQL (``timing_stats.median_pinned``), on the sentinel's
    measurement row (a missing interval compares as NULL: not stable unless clean)."""
    reach = MEDIAN_CI_REL * Measurement.median_ms
    return or_(
        Measurement.verdict == Verdict.CLEAN,
        and_(
            Measurement.verdict == Verdict.UNSTABLE,
            Measurement.median_ms - Measurement.median_ci_low_ms <= reach,
            Measurement.median_ci_high_ms - Measurement.median_ms <= reach,
        ),
    )


@dataclass(frozen=True)
class SpeedReading:
    """What an upload is stored with: the index of its time and, for a stable sentinel,
    the new point of the series (``reference_ms`` is its own median if it is the first)."""

    speed_index: float | None
    reference_ms: float | None = None


def _stable_samples(device_id: str, runtime_config_id: str) -> Select[SpeedSample]:
    return (
        select(SpeedSample)
        .join(Measurement, Measurement.id == SpeedSample.measurement_id)
        .where(
            SpeedSample.device_id == device_id,
            SpeedSample.runtime_config_id == runtime_config_id,
            _stable_sentinel_clause(),
        )
    )


def current_speed_index(
    *, session: Session, device_id: str, runtime_config_id: str
) -> float | None:
    """The latest stable point of the series, or None before the first one."""
    latest: float | None = session.scalars(
        _stable_samples(device_id, runtime_config_id)
        .with_only_columns(SpeedSample.speed_index)  # read with every result: no whole row
        .order_by(SpeedSample.created_at.desc(), SpeedSample.id.desc())
        .limit(1)
    ).first()
    return latest


def reference_ms(*, session: Session, device_id: str, runtime_config_id: str) -> float | None:
    """The reference median of the series, fixed by its first stable sentinel."""
    first = session.scalars(
        _stable_samples(device_id, runtime_config_id)
        .order_by(SpeedSample.created_at, SpeedSample.id)
        .limit(1)
    ).first()
    return None if first is None else first.reference_ms


def reading_for(
    *,
    session: Session,
    device_id: str,
    runtime_config_id: str,
    sentinel_median_ms: float | None = None,
    stable: bool = True,
) -> SpeedReading:
    """The speed index a new measurement is stored with; pass a sentinel's median (and
    whether it is stable, :func:`stable_sentinel`) to get its own point of the series."""
    current = current_speed_index(
        session=session, device_id=device_id, runtime_config_id=runtime_config_id
    )
    if sentinel_median_ms is None:
        return SpeedReading(current)
    reference = reference_ms(
        session=session, device_id=device_id, runtime_config_id=runtime_config_id
    )
    if reference is None:
        return SpeedReading(1.0, sentinel_median_ms) if stable else SpeedReading(None)
    if not stable:
        return SpeedReading(current, reference)
    return SpeedReading(reference / sentinel_median_ms, reference)


def add_speed_sample(
    *, session: Session, measurement: Measurement, reading: SpeedReading
) -> SpeedSample | None:
    """The series point of a stored sentinel measurement (None before any reference)."""
    if reading.reference_ms is None:
        return None
    sample = SpeedSample(
        device_id=measurement.device_id,
        runtime_config_id=measurement.runtime_config_id,
        measurement_id=measurement.id,
        sentinel_ms=measurement.median_ms,
        reference_ms=reading.reference_ms,
        speed_index=reading.reference_ms / measurement.median_ms,
        created_at=db_now(session),
    )
    session.add(sample)
    session.flush()
    return sample


def speed_series(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig | None = None,
    limit: int = 1000,
) -> list[SpeedSample]:
    """The device's series points, oldest first (the latest ``limit``)."""
    stmt = select(SpeedSample).where(SpeedSample.device_id == device.id)
    if runtime_config is not None:
        stmt = stmt.where(SpeedSample.runtime_config_id == runtime_config.id)
    newest = stmt.order_by(SpeedSample.created_at.desc(), SpeedSample.id.desc()).limit(limit)
    return list(reversed(session.scalars(newest).all()))


def _stable_points(
    session: Session, device_id: str, runtime_config_id: str, first: datetime, last: datetime
) -> tuple[list[tuple[datetime, str]], list[float]]:
    """The stable series in order, each sentinel's (time, measurement id) and index, from
    the last point at or before ``first`` to the first one after ``last`` (a device's
    series grows for as long as it works; rows between two times need only that stretch)."""
    series = _stable_samples(device_id, runtime_config_id)
    at = Measurement.created_at
    before = series.with_only_columns(func.max(at)).where(at <= first).scalar_subquery()
    after = series.with_only_columns(func.min(at)).where(at > last).scalar_subquery()
    rows = session.execute(
        series.with_only_columns(at, Measurement.id, SpeedSample.speed_index)
        .where(at >= func.coalesce(before, first), at <= func.coalesce(after, last))
        .order_by(at, Measurement.id)
    ).all()
    return [(t, mid) for t, mid, _ in rows], [index for _, _, index in rows]


def _bracketed(
    positions: list[tuple[datetime, str]], indices: list[float], row: Measurement
) -> float | None:
    """The index at ``row``'s time: interpolated between the stable points before and after
    it, the one before after the last point, the stored one before the first."""
    after = bisect.bisect_right(positions, (row.created_at, row.id))
    if after == 0:
        return row.speed_index
    before = after - 1
    if after == len(positions):
        return indices[before]
    t0, t1 = positions[before][0], positions[after][0]
    span = (t1 - t0).total_seconds()
    weight = (row.created_at - t0).total_seconds() / span if span > 0 else 0.0
    return indices[before] + weight * (indices[after] - indices[before])


def speed_indices_at(*, session: Session, rows: Sequence[Measurement]) -> list[float | None]:
    """The speed index of each row's time from the stable series of its device and runtime
    configuration (bracketed, see the module); a row whose configuration has no series keeps
    its stored index."""
    times: dict[tuple[str, str], list[datetime]] = {}
    for row in rows:
        times.setdefault((row.device_id, row.runtime_config_id), []).append(row.created_at)
    series = {key: _stable_points(session, *key, min(at), max(at)) for key, at in times.items()}
    indices: list[float | None] = []
    for row in rows:
        positions, values = series[(row.device_id, row.runtime_config_id)]
        indices.append(_bracketed(positions, values, row) if positions else row.speed_index)
    return indices


def normalized_ms(*, session: Session, rows: Sequence[Measurement]) -> list[float]:
    """Medians expressed at the reference speed: x * its speed index (bracketed by the
    sentinels around it); a measurement without an index is taken as measured."""
    indices = speed_indices_at(session=session, rows=rows)
    return [m.median_ms * (1.0 if i is None else i) for m, i in zip(rows, indices, strict=True)]
