"""Lookup tables: build requests, progress, entries and LUT latency of architectures."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.schemas.common import ApiModel, RuntimeIn, VerdictName


class LutBuildIn(ApiModel):
    device_id: str
    runtime: RuntimeIn
    space: str = Field(default="proxyless", examples=["proxyless"])
    resolution: int | None = Field(default=None, ge=8, le=1024)
    width_mult: float = Field(default=1.0, gt=0)
    num_classes: int | None = Field(default=None, ge=2)
    batch_size: int = Field(default=32, ge=1, le=4096)


class LutProgressOut(ApiModel):
    total: int
    measured: int
    queued: int
    leased: int
    failed: int
    unclean: int = Field(
        description="measured keys with no clean measurement (kept out of the table); "
        "building the table again re-measures them"
    )


class LutStatus(ApiModel):
    device_id: str
    runtime_config_id: str
    space_ref: str
    batch_size: int
    created_jobs: int
    progress: LutProgressOut


class LutEntry(ApiModel):
    median_ms: float  # at the reference speed when the table is drift-normalized
    measured_median_ms: float
    # The device's speed at the entry's time, bracketed by the sentinels around it (None
    # before the first stable one); median_ms = measured_median_ms x this when normalized.
    speed_index: float | None
    cv: float
    unstable: bool
    verdict: str
    measurement_id: str
    measured_at: datetime


class LutOut(ApiModel):
    device_id: str
    runtime_config_id: str
    space_ref: str
    batch_size: int
    normalize_drift: bool
    progress: LutProgressOut
    entries: dict[str, LutEntry]
    verdicts_included: list[str] = Field(description="verdicts the entries may have")
    unclean_entries: int = Field(description="entries resting on unstable/disturbed data")
    trust: str = Field(description='"built on clean measurements only", or a warning')


class TableIn(ApiModel):
    """Which table; without ``runtime_config_id``, the one the device was measured under."""

    device_id: str
    runtime_config_id: str | None = None
    space_ref: str = Field(examples=["proxyless-r224-w1.0-c1000"])
    batch_size: int = Field(default=32, ge=1, le=4096)
    normalize_drift: bool = Field(
        default=False, description="latencies at the device's reference speed (sentinel)"
    )
    include: list[VerdictName] = Field(
        default=[], max_length=3, description="verdicts besides clean the entries may have"
    )


class LutLatencyIn(TableIn):
    architectures: list[str] = Field(min_length=1, max_length=10_000)
    predictor_id: str | None = Field(
        default=None, description="also answer this predictor version's latency and spread"
    )


class LutLatency(ApiModel):
    architecture: str
    lut_ms: float | None
    missing_keys: list[str]
    unclean_keys: list[str] = Field(description="keys whose entry is not clean (if included)")
    predicted_ms: float | None = None
    std_ms: float | None = None


class LutEntriesIn(TableIn):
    op_keys: list[str] = Field(min_length=1, max_length=10_000)


class LutEntriesOut(ApiModel):
    device_id: str
    runtime_config_id: str
    space_ref: str
    batch_size: int
    entries: dict[str, LutEntry | None] = Field(description="null: not measured yet")
