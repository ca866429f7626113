"""Searches: what is submitted, what the API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from latency_db.search_spec import SearchSpec
from services.schemas.common import ApiModel, Out
from services.schemas.jobs import ArtifactOut


class SearchCreate(ApiModel):
    device_id: str = Field(min_length=1, max_length=64)
    runtime_config_id: str | None = Field(
        None, max_length=64, description="default: the one the device's measurements use"
    )
    budget_ms: float = Field(gt=0, allow_inf_nan=False, examples=[300.0])
    estimator: str = Field(min_length=1, max_length=32, examples=["proxyless"])
    config: SearchSpec = Field(default_factory=lambda: SearchSpec.model_validate({}))


class SearchOut(Out):
    id: str
    owner_id: str
    device_id: str
    runtime_config_id: str
    space_ref: str
    state: str
    budget_ms: float
    estimator: str
    progress: dict[str, Any]
    error: str | None
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    latency_model: dict[str, Any] = Field(description="the predictor the search uses (no params)")
    spec: dict[str, Any]


class SearchEventOut(Out):
    id: str
    step: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime


class SearchResultOut(ApiModel):
    search_id: str
    state: str
    result: dict[str, Any] | None
    artifacts: list[ArtifactOut] = Field(
        default_factory=list,
        description="the exported network (onnx, torchscript, weights): sizes and sha256, "
        "downloadable at /artifacts/{sha256}/content",
    )
