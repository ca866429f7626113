"""A device's speed index per runtime configuration (issue 16 item 4).

index = reference median / this sentinel's median, where the reference is the median of the
first stable sentinel (a clean verdict: quiet and within the CV limit) of that (device,
runtime configuration): 1.0 at the reference, 0.8 when the device runs 20 % slower. Every later
stable sentinel adds a point; an unstable one is recorded at the index of its time but does
not move it. Every measurement stores the index of its time: the latest stable point before
it (a stable sentinel carries its own). Measurements before the first stable sentinel (old
data, imports, a device whose sentinel never came out stable) have none and are left as
measured by normalization (:func:`normalized_ms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.models import Device, Measurement, RuntimeConfig, SpeedSample
from latency_db.verdicts import Verdict


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
            Measurement.verdict == Verdict.CLEAN,
        )
    )


def current_speed_index(
    *, session: Session, device_id: str, runtime_config_id: str
) -> float | None:
    """The latest stable point of the series, or None before the first one."""
    latest = session.scalars(
        _stable_samples(device_id, runtime_config_id)
        .order_by(SpeedSample.created_at.desc(), SpeedSample.id.desc())
        .limit(1)
    ).first()
    return None if latest is None else latest.speed_index


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
    unstable: bool = False,
) -> SpeedReading:
    """The speed index a new measurement is stored with; pass a sentinel's median (and
    whether it is unstable) to get its own point of the series."""
    current = current_speed_index(
        session=session, device_id=device_id, runtime_config_id=runtime_config_id
    )
    if sentinel_median_ms is None:
        return SpeedReading(current)
    reference = reference_ms(
        session=session, device_id=device_id, runtime_config_id=runtime_config_id
    )
    if reference is None:
        return SpeedReading(1.0, sentinel_median_ms) if not unstable else SpeedReading(None)
    if unstable:
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


def normalized_ms(rows: Sequence[Measurement]) -> list[float]:
    """Medians expressed at the reference speed: x * (its speed index / 1.0); a measurement
    without an index is taken as measured."""
    return [m.median_ms * (m.speed_index if m.speed_index is not None else 1.0) for m in rows]
