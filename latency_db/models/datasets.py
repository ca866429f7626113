"""Datasets a search may name: an admin registers each one's root folder (an ImageFolder with
``train/`` and ``val/``) as the workers see it; users name a dataset, never a path."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from latency_db.models.base import Base, created_column


class Dataset(Base):
    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    root: Mapped[str] = mapped_column(Text)  # on the workers' filesystem
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_column()
