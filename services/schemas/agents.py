"""What agents send and receive: enrollment, heartbeats, leases and results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, field_validator

from latency_db.errors import ValidationError
from latency_db.verdicts import MAX_REASON_LENGTH, MAX_TRIES, check_evidence
from services.schemas.common import ApiModel, VerdictName
from services.schemas.jobs import MeasurementOut

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


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


class CompletedAndClaimedOut(ApiModel):
    """The stored result and the lease of the agent's next job (null: none is queued)."""

    measurement: MeasurementOut
    next: ClaimOut | None


class LeaseOut(ApiModel):
    job_id: str
    state: str
    expires_at: datetime


class VerdictIn(ApiModel):
    """The agent's verdict on its timed phase: ``figure`` is the deciding number (e.g. the
    cores other processes kept busy) and ``threshold`` its limit. Like the result around it,
    it ignores fields a newer agent may add."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    verdict: VerdictName
    reason: str = Field(default="", max_length=MAX_REASON_LENGTH)
    figure: FiniteFloat | None = None
    threshold: FiniteFloat | None = None
    tries: int | None = Field(default=None, ge=0, le=MAX_TRIES)


class CompleteIn(ApiModel):
    """A result: raw per-run times are the truth; the server derives every statistic (the
    CV and the median's confidence interval too, so ``median_ci_ms`` is only checked) and
    settles the stored verdict from the agent's ``verdict`` (``latency_db.verdicts``).
    An agent from before verdicts omits ``evidence``, ``verdict`` and ``median_ci_ms``."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    idempotency_key: str = Field(min_length=1, max_length=128)
    times_ms: list[float] = Field(min_length=1, max_length=1_000_000)
    environment: dict[str, Any] = Field(default_factory=dict)
    layer_profile: dict[str, Any] | None = None
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="at most 64 keys; finite numbers, bools, short strings or short lists",
    )
    verdict: VerdictIn | None = None
    median_ci_ms: tuple[FiniteFloat, FiniteFloat] | None = None

    @field_validator("evidence")
    @classmethod
    def _bounded_evidence(cls, evidence: dict[str, Any]) -> dict[str, Any]:
        try:
            return check_evidence(evidence)
        except ValidationError as err:
            raise ValueError(err.message) from None


class FailIn(ApiModel):
    error_code: str = Field(min_length=1, max_length=32)
    message: str = Field(default="", max_length=4000)


class JobStateOut(ApiModel):
    job_id: str
    state: str
    attempt: int
    error_code: str | None
