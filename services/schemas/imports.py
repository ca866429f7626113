"""Importing published latency data: a file's text plus the options of the CLI command."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from latency_db.models import DeviceKind
from services.schemas.common import ApiModel


class ImportTarget(ApiModel):
    """Where imported numbers go: a device (created when missing) and a space instance."""

    text: str = Field(min_length=1, description="the file's content")
    device: str = Field(min_length=1, max_length=64, description="device name")
    space: str = Field(
        default="proxyless", description="family name or full space ref", examples=["proxyless"]
    )
    resolution: int | None = Field(default=None, ge=8, le=1024)
    width_mult: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=1, ge=1, le=4096)


class LutImportIn(ImportTarget):
    format: Literal["proxylessnas"] = "proxylessnas"
    kind: DeviceKind = DeviceKind.PHONE
    source_name: str = Field(default="", max_length=200)


class MeasurementImportIn(ImportTarget):
    kind: DeviceKind = DeviceKind.EDGE
    source_name: str = Field(min_length=1, max_length=200, examples=["hw-nas-bench edgegpu"])


class ImportSummaryOut(ApiModel):
    device_id: str
    device_name: str
    device_created: bool
    runtime_config_id: str
    space_ref: str
    sha256: str
    stored: int
    already_stored: int


class CoverageOut(ApiModel):
    expected: int
    found: int
    missing: list[str]
    extra: int
    complete: bool


class LutImportOut(ApiModel):
    summary: ImportSummaryOut
    batch_size: int
    coverage: CoverageOut


class MeasurementImportOut(ApiModel):
    summary: ImportSummaryOut
    source_name: str
    rows: int
    batch_sizes: list[int]
