"""Target devices, their one-time enrollment tokens and the agents that run on them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from latency_db.models.base import (
    ID_LENGTH,
    Base,
    check_in,
    created_column,
    enum_type,
    id_column,
)


class DeviceKind(str, Enum):
    GPU = "gpu"
    CPU = "cpu"
    PHONE = "phone"
    EDGE = "edge"


class DeviceState(str, Enum):
    ACTIVE = "active"
    DRAINING = "draining"
    DISABLED = "disabled"


class AgentState(str, Enum):
    ONLINE = "online"
    STALE = "stale"
    OFFLINE = "offline"
    DRAINING = "draining"
    DISABLED = "disabled"


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint(check_in("kind", DeviceKind), name="kind"),
        CheckConstraint(check_in("state", DeviceState), name="state"),
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # The user who registered it: others see a 404, admins see all. None: made before owners
    # (or by the CLI's embedded database), an admin's alone. No foreign key: SQLite adds one
    # only by rebuilding ``devices``, whose drop would cascade to every row off a device
    # (users are never deleted; an unknown owner leaves the device to the admins).
    owner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    kind: Mapped[DeviceKind] = mapped_column(enum_type(DeviceKind))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[DeviceState] = mapped_column(enum_type(DeviceState), default=DeviceState.ACTIVE)
    created_at: Mapped[datetime] = created_column()

    agents: Mapped[list[Agent]] = relationship(back_populates="device")


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"

    id: Mapped[str] = id_column()
    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    device: Mapped[Device] = relationship()


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (
        CheckConstraint(check_in("state", AgentState), name="state"),
        Index("ix_agents_device_id_state", "device_id", "state"),
    )

    id: Mapped[str] = id_column()
    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(128))
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)
    backend: Mapped[str] = mapped_column(String(32))
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[AgentState] = mapped_column(enum_type(AgentState), default=AgentState.ONLINE)
    last_heartbeat_at: Mapped[datetime | None]
    # The agent process's session (sent with its claims): a new one is a restart.
    session_id: Mapped[str | None] = mapped_column(String(64))
    session_started_at: Mapped[datetime | None]
    enrolled_at: Mapped[datetime] = created_column()

    device: Mapped[Device] = relationship(back_populates="agents")
