"""Measurements: immutable raw per-run times, server-derived statistics and the environment,
with the agent's interference evidence and the verdict stored for them (issue 16).

A lookup table is the latest accepted, clean ``op`` measurement per op key (design section 3).
``unstable`` is the server's own CV flag (CV of the raw times above 5%); ``verdict`` is how far
the measurement can be trusted (``latency_db.verdicts``): a disturbed phase may have a low CV,
so the two are kept apart.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from latency_db.models.base import (
    ID_LENGTH,
    Base,
    check_in,
    created_column,
    enum_type,
    id_column,
)
from latency_db.models.devices import Agent, Device
from latency_db.models.jobs import ProfilingJob
from latency_db.models.runtime import RuntimeConfig
from latency_db.verdicts import Verdict


class SubjectKind(str, Enum):
    OP = "op"
    NETWORK = "network"
    MODEL = "model"
    SENTINEL = "sentinel"


class MeasurementSource(str, Enum):
    AGENT = "agent"
    IMPORT = "import"
    LOCAL = "local"


class Measurement(Base):
    __tablename__ = "measurements"
    __table_args__ = (
        CheckConstraint(check_in("subject_kind", SubjectKind), name="subject_kind"),
        CheckConstraint(check_in("source", MeasurementSource), name="source"),
        CheckConstraint("batch_size > 0", name="batch_size_positive"),
        CheckConstraint(check_in("verdict", Verdict), name="verdict"),
        Index(
            "ix_measurements_lookup",
            "device_id",
            "runtime_config_id",
            "subject_kind",
            "subject",
            "batch_size",
            "verdict",
            "created_at",
        ),
    )

    id: Mapped[str] = id_column()
    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE")
    )
    runtime_config_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("runtime_configs.id"), index=True
    )
    job_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("profiling_jobs.id", ondelete="SET NULL"), unique=True
    )
    agent_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    subject_kind: Mapped[SubjectKind] = mapped_column(enum_type(SubjectKind))
    subject: Mapped[str] = mapped_column(Text)
    space_ref: Mapped[str | None] = mapped_column(String(128))
    batch_size: Mapped[int]
    input_shape: Mapped[list[int]] = mapped_column(JSON)
    times_ms: Mapped[list[float]] = mapped_column(JSON)
    min_ms: Mapped[float]
    median_ms: Mapped[float]
    mean_ms: Mapped[float]
    p90_ms: Mapped[float]
    p99_ms: Mapped[float]
    std_ms: Mapped[float]
    cv: Mapped[float]
    unstable: Mapped[bool]
    median_ci_low_ms: Mapped[float | None]
    median_ci_high_ms: Mapped[float | None]
    verdict: Mapped[Verdict] = mapped_column(enum_type(Verdict))
    # {"reason", "figure", "threshold", "tries"}: why, the deciding number and its limit.
    verdict_detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON)
    layer_profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[MeasurementSource] = mapped_column(enum_type(MeasurementSource))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    accepted: Mapped[bool] = mapped_column(default=True)
    # The device's speed index when this was measured (latency_db.drift); None before any
    # sentinel of its runtime configuration.
    speed_index: Mapped[float | None]
    created_at: Mapped[datetime] = created_column()

    device: Mapped[Device] = relationship()
    runtime_config: Mapped[RuntimeConfig] = relationship()
    job: Mapped[ProfilingJob | None] = relationship(back_populates="measurement")
    agent: Mapped[Agent | None] = relationship()

    @property
    def verdict_reason(self) -> str:
        return str(self.verdict_detail.get("reason", ""))


class SpeedSample(Base):
    """One point of a device's speed-index series under one runtime configuration: a sentinel
    measurement, its median and the reference median it is compared with."""

    __tablename__ = "speed_samples"
    __table_args__ = (
        CheckConstraint("sentinel_ms > 0 AND reference_ms > 0", name="medians_positive"),
        Index("ix_speed_samples_series", "device_id", "runtime_config_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE")
    )
    runtime_config_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("runtime_configs.id")
    )
    measurement_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("measurements.id", ondelete="CASCADE"), unique=True
    )
    sentinel_ms: Mapped[float]
    reference_ms: Mapped[float]
    speed_index: Mapped[float]
    created_at: Mapped[datetime] = created_column()

    measurement: Mapped[Measurement] = relationship()


@event.listens_for(Measurement, "before_update")
def _measurements_are_immutable(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    raise ValueError(f"measurement {target.id} is immutable; record a new one instead")
