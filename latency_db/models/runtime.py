"""Runtime configurations: the backend and settings a measurement was taken under."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from latency_db.models.base import Base, created_column, id_column


class RuntimeConfig(Base):
    """One row per distinct (backend, runtime version, canonical settings).

    ``runtime_version`` is ``""`` when the configuration does not pin a version.
    """

    __tablename__ = "runtime_configs"
    __table_args__ = (UniqueConstraint("backend", "runtime_version", "settings_hash"),)

    id: Mapped[str] = id_column()
    backend: Mapped[str] = mapped_column(String(32))
    runtime_version: Mapped[str] = mapped_column(String(64), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_column()
