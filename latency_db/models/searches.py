"""Architecture searches and their event streams (design section 6)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from latency_db.models.accounts import User
from latency_db.models.base import (
    ID_LENGTH,
    Base,
    check_in,
    created_column,
    enum_type,
    id_column,
)
from latency_db.models.devices import Device
from latency_db.models.runtime import RuntimeConfig

CLAIM_TOKEN_LENGTH = 32


class SearchState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    RESUMING = "resuming"


class Search(Base):
    __tablename__ = "searches"
    __table_args__ = (
        CheckConstraint(check_in("state", SearchState), name="state"),
        CheckConstraint("budget_ms > 0", name="budget_positive"),
        Index("ix_searches_owner_id_created_at", "owner_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE")
    )
    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    runtime_config_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("runtime_configs.id"), index=True
    )
    space_ref: Mapped[str] = mapped_column(String(128))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[SearchState] = mapped_column(enum_type(SearchState), default=SearchState.PENDING)
    budget_ms: Mapped[float]
    estimator: Mapped[str] = mapped_column(String(32))
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # the owner token of the worker running the current segment (None between segments)
    claim_token: Mapped[str | None] = mapped_column(String(CLAIM_TOKEN_LENGTH))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # When the next segment's task was last sent (NULL: never; the reconciler sends it).
    enqueued_at: Mapped[datetime | None]

    owner: Mapped[User] = relationship()
    device: Mapped[Device] = relationship()
    runtime_config: Mapped[RuntimeConfig] = relationship()
    events: Mapped[list[SearchEvent]] = relationship(
        back_populates="search", order_by="SearchEvent.id", passive_deletes=True
    )


class SearchEvent(Base):
    __tablename__ = "search_events"
    __table_args__ = (Index("ix_search_events_search_id_step", "search_id", "step"),)

    id: Mapped[str] = id_column()
    search_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("searches.id", ondelete="CASCADE")
    )
    step: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_column()

    search: Mapped[Search] = relationship(back_populates="events")
