"""Pieces shared by several resources."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The most rows a list may skip: databases bind 64-bit integers at most, and no real page is
# that deep.
MAX_OFFSET = 2**31 - 1

# How far a measurement can be trusted (``latency_db.verdicts.Verdict``).
VerdictName = Literal["clean", "unstable", "disturbed"]


class ApiModel(BaseModel):
    """Strict request bodies: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RuntimeSettingsIn(ApiModel):
    """What a user may set of an agent's backend settings (``profiler_agent.backends``
    ``BackendSettings``): paths (``cache_dir``) and binaries are the agent host's own
    configuration. Which ``options`` a backend takes: ``services.validation.JOB_OPTIONS``."""

    threads: int | None = Field(default=None, ge=1, le=1024)
    precision: Literal["fp32", "fp16"] = "fp32"
    device_id: int = Field(default=0, ge=0, le=255)
    options: dict[str, str] = Field(default_factory=dict, max_length=16)


class RuntimeIn(ApiModel):
    """A runtime configuration: the backend and the settings a measurement is taken under."""

    backend: str = Field(min_length=1, max_length=32, examples=["ort-cpu"])
    settings: RuntimeSettingsIn = Field(
        default_factory=RuntimeSettingsIn, examples=[{"threads": 2}]
    )


class RuntimeOut(Out):
    id: str
    backend: str
    settings: dict[str, Any]


class ErrorOut(BaseModel):
    """Every error answer (``services.errors``): a stable code, a message for people, and
    details (for a 422, each offending field and its problem)."""

    code: str = Field(examples=["invalid"])
    message: str
    details: Any = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "The request was refused; `code` says why"}
}
