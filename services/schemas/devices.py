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
