"""Teams: users who work together, and the devices their owners share with a team. A device
is seen by its owner, the admins and the members of each team it is shared with (issue 12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from latency_db.models.base import ID_LENGTH, Base, created_column, id_column


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_column()


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = created_column()


class DeviceShare(Base):
    """A device its owner shares with a team: the members see it and use it (jobs,
    measurements, tables, predictors, searches); only the owner manages it."""

    __tablename__ = "device_shares"

    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = created_column()
