"""Devices, their enrollment tokens and agents."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from services.schemas.common import ApiModel, Out


class DeviceCreate(ApiModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: Literal["gpu", "cpu", "phone", "edge"]
    attributes: dict[str, Any] = Field(default_factory=dict)


class DeviceStateIn(ApiModel):
    state: Literal["active", "draining", "disabled"]


class DeviceOut(Out):
    id: str
    name: str
    owner_id: str | None = Field(description="the user who registered it (None: the admins')")
    kind: str
    attributes: dict[str, Any]
    state: str
    created_at: datetime


class Enrollment(ApiModel):
    """A one-time token and the exact commands that start an agent on the device."""

    token: str
    expires_at: datetime
    commands: list[str]


class DeviceCreated(ApiModel):
    device: DeviceOut
    enrollment: Enrollment


class AgentOut(Out):
    id: str
    device_id: str
    name: str
    backend: str
    state: str
    environment: dict[str, Any]
    last_heartbeat_at: datetime | None
    enrolled_at: datetime


class AgentStateIn(ApiModel):
    state: Literal["online", "draining", "disabled"]


class AgentCredentialOut(ApiModel):
    """An agent's new credential, shown once; the old one no longer authenticates."""

    agent_id: str
    credential: str


class SpeedPointOut(ApiModel):
    """One sentinel measurement of a device: its median, the series' reference median and
    the speed index (reference / median; 1.0 at the reference, below 1 when slower)."""

    time: datetime
    runtime_config_id: str
    measurement_id: str
    sentinel_ms: float
    reference_ms: float
    speed_index: float
    cv: float
    unstable: bool  # shown but does not move the index (latency_db.repositories.speed)


class DeviceHealthOut(ApiModel):
    """A device's speed-index series (oldest first) and the current index per runtime
    configuration (the latest stable point)."""

    device_id: str
    device_name: str
    current: dict[str, float]
    points: list[SpeedPointOut]
