"""Profiling jobs, measurements and artifacts as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from services.schemas.common import ApiModel, Out, RuntimeIn


class JobCreate(ApiModel):
    """``network``/``layers``: an architecture of a space instance (exported by a worker);
    ``model``: an uploaded ONNX artifact, measured at its own static shape."""

    device_id: str
    runtime: RuntimeIn
    kind: Literal["network", "layers", "model"]
    space_ref: str | None = Field(default=None, examples=["proxyless-r224-w1-c1000"])
    architecture: str | None = Field(default=None, examples=["k3_e6 " * 20 + "k3_e6"])
    artifact_sha256: str | None = Field(default=None, min_length=64, max_length=64)
    batch_size: int = Field(default=32, ge=1, le=4096)
    priority: int = Field(default=0, ge=-100, le=100)


class JobOut(Out):
    id: str
    device_id: str
    runtime_config_id: str
    kind: str
    subject: str
    space_ref: str | None
    batch_size: int
    input_shape: list[int]
    artifact_sha256: str | None
    state: str
    attempt: int
    max_attempts: int
    error_code: str | None
    error_message: str | None
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime


class MeasurementOut(Out):
    id: str
    device_id: str
    runtime_config_id: str
    job_id: str | None
    agent_id: str | None
    subject_kind: str
    subject: str
    space_ref: str | None
    batch_size: int
    input_shape: list[int]
    min_ms: float
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    std_ms: float
    cv: float
    speed_index: float | None  # the device's speed when measured (GET /devices/{id}/health)
    unstable: bool = Field(description="the server's CV of the raw times is above 5%")
    median_ci_low_ms: float | None = Field(description="95% interval of the median (n >= 8)")
    median_ci_high_ms: float | None
    verdict: str = Field(description="clean, unstable or disturbed: how far to trust it")
    verdict_reason: str
    source: str
    created_at: datetime


class MeasurementDetail(MeasurementOut):
    times_ms: list[float]
    environment: dict[str, Any]
    layer_profile: dict[str, Any] | None
    evidence: dict[str, Any] = Field(description="the agent's interference evidence")
    verdict_detail: dict[str, Any] = Field(description="reason, figure, threshold, tries")


class ArtifactOut(Out):
    sha256: str
    kind: str
    size_bytes: int
    subject: str
    space_ref: str | None
    input_shape: list[int]
    opset: int | None
    created_at: datetime
