"""Registered datasets: what an admin registers, what users see (a name, not a path)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from latency_db.repositories.datasets import MAX_ROOT_CHARS
from latency_db.search_spec import DATASET_NAME_PATTERN
from services.schemas.common import ApiModel, Out


class DatasetCreate(ApiModel):
    name: str = Field(pattern=DATASET_NAME_PATTERN, examples=["imagenet-100"])
    root: str = Field(
        min_length=1,
        max_length=MAX_ROOT_CHARS,
        pattern=r"^/",
        description="absolute ImageFolder root (train/, val/) on the workers' filesystem",
    )
    description: str = Field("", max_length=1024)


class DatasetOut(Out):
    name: str
    description: str
    root: str | None = Field(description="the folder on the workers' side; admins only")
    bundled: bool = False
    created_at: datetime | None = None
