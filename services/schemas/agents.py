"""What agents send and receive: enrollment, heartbeats, leases and results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from services.schemas.common import ApiModel


class EnrollIn(ApiModel):
    enrollment_token: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=128)
    backend: str = Field(min_length=1, max_length=32)
    environment: dict[str, Any] = Field(default_factory=dict)


class EnrollOut(ApiModel):
    agent_id: str
    device_id: str
    credential: str
    heartbeat_s: int
    lease_s: int


class HeartbeatIn(ApiModel):
    lease_tokens: list[str] = Field(default_factory=list, max_length=64)
    environment: dict[str, Any] | None = None


class HeartbeatOut(ApiModel):
    server_time: datetime
    heartbeat_s: int
    canceled: list[str]


class ClaimedJob(ApiModel):
    id: str
    kind: str
    subject: str
    space_ref: str | None
    batch_size: int
    input_shape: list[int]
    artifact_sha256: str
    backend: str
    settings: dict[str, Any]
    attempt: int


class ClaimOut(ApiModel):
    lease_token: str
    lease_s: int
    expires_at: datetime
    job: ClaimedJob


class LeaseOut(ApiModel):
    job_id: str
    state: str
    expires_at: datetime


class CompleteIn(ApiModel):
    """A result: raw per-run times are the truth; the server derives every statistic."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    idempotency_key: str = Field(min_length=1, max_length=128)
    times_ms: list[float] = Field(min_length=1, max_length=1_000_000)
    environment: dict[str, Any] = Field(default_factory=dict)
    layer_profile: dict[str, Any] | None = None


class FailIn(ApiModel):
    error_code: str = Field(min_length=1, max_length=32)
    message: str = Field(default="", max_length=4000)


class JobStateOut(ApiModel):
    job_id: str
    state: str
    attempt: int
    error_code: str | None
