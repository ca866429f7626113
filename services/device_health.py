"""A device's health: its speed-index series from the sentinel (issue 16 item 4).

One implementation behind ``GET /v1/devices/{id}/health`` and ``hwnas device health``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from latency_db.models import Device
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.repositories.speed import (
    current_speed_index,
    speed_series,
    stable_sentinel_measurement,
)
from services.schemas.devices import DeviceHealthOut, SpeedPointOut


def device_health(
    *, session: Session, device: Device, runtime_config_id: str | None = None, limit: int = 1000
) -> DeviceHealthOut:
    """The latest ``limit`` points of the device's series, optionally of one configuration."""
    runtime = (
        runtime_repo.get_runtime_config(session=session, runtime_config_id=runtime_config_id)
        if runtime_config_id
        else None
    )
    samples = speed_series(session=session, device=device, runtime_config=runtime, limit=limit)
    points = [
        SpeedPointOut(
            time=s.created_at,
            runtime_config_id=s.runtime_config_id,
            measurement_id=s.measurement_id,
            sentinel_ms=s.sentinel_ms,
            reference_ms=s.reference_ms,
            speed_index=s.speed_index,
            cv=s.measurement.cv,
            unstable=not stable_sentinel_measurement(s.measurement),
        )
        for s in samples
    ]
    current = {}
    for config_id in dict.fromkeys(p.runtime_config_id for p in points):
        index = current_speed_index(
            session=session, device_id=device.id, runtime_config_id=config_id
        )
        if index is not None:
            current[config_id] = index
    return DeviceHealthOut(
        device_id=device.id, device_name=device.name, current=current, points=points
    )
