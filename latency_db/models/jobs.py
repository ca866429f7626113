"""Profiling jobs and the leases under which agents run them (design section 7)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from latency_db.models.artifacts import Artifact
from latency_db.models.base import (
    ID_LENGTH,
    Base,
    check_in,
    created_column,
    enum_type,
    id_column,
)
from latency_db.models.devices import Agent, Device
from latency_db.models.runtime import RuntimeConfig

if TYPE_CHECKING:
    from latency_db.models.measurements import Measurement


class JobKind(str, Enum):
    OP = "op"
    NETWORK = "network"
    MODEL = "model"
    LAYERS = "layers"
    SENTINEL = "sentinel"  # the runtime configuration's reference network (drift)


class JobState(str, Enum):
    QUEUED = "queued"
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class LeaseState(str, Enum):
    LIVE = "live"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    RELEASED = "released"


# At most one queued or leased ``op`` job per LUT entry (device, runtime config, key, batch),
# and one ``sentinel`` job per device and runtime config.
ACTIVE_OP_JOB = "kind IN ('op', 'sentinel') AND state IN ('queued', 'leased')"
# Jobs a worker has still to export an artifact for (the reconciler's scan).
AWAITING_EXPORT = "state = 'queued' AND artifact_sha256 IS NULL"
QUEUED = "state = 'queued'"


class ProfilingJob(Base):
    """Work for the agents of one device. ``attempt`` counts from 1; ``artifact_sha256`` is
    empty until the artifact is exported, and only jobs with an artifact can be claimed."""

    __tablename__ = "profiling_jobs"
    __table_args__ = (
        CheckConstraint(check_in("kind", JobKind), name="kind"),
        CheckConstraint(check_in("state", JobState), name="state"),
        CheckConstraint("batch_size > 0", name="batch_size_positive"),
        CheckConstraint("attempt >= 1 AND attempt <= max_attempts", name="attempt_in_range"),
        Index("ix_profiling_jobs_claim", "device_id", "state", "priority", "created_at"),
        Index(
            "uq_profiling_jobs_one_active_op",
            "device_id",
            "runtime_config_id",
            "subject",
            "batch_size",
            unique=True,
            sqlite_where=text(ACTIVE_OP_JOB),
            postgresql_where=text(ACTIVE_OP_JOB),
        ),
        Index(
            "ix_profiling_jobs_awaiting_export",
            "enqueued_at",
            sqlite_where=text(AWAITING_EXPORT),
            postgresql_where=text(AWAITING_EXPORT),
        ),
    )

    id: Mapped[str] = id_column()
    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE")
    )
    runtime_config_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("runtime_configs.id"), index=True
    )
    kind: Mapped[JobKind] = mapped_column(enum_type(JobKind))
    subject: Mapped[str] = mapped_column(Text)
    space_ref: Mapped[str | None] = mapped_column(String(128))
    batch_size: Mapped[int]
    input_shape: Mapped[list[int]] = mapped_column(JSON)
    artifact_sha256: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("artifacts.sha256"), index=True
    )
    state: Mapped[JobState] = mapped_column(enum_type(JobState), default=JobState.QUEUED)
    attempt: Mapped[int] = mapped_column(default=1)
    max_attempts: Mapped[int]
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    # When the export task was last sent (NULL: never; the reconciler sends it).
    enqueued_at: Mapped[datetime | None]

    device: Mapped[Device] = relationship()
    runtime_config: Mapped[RuntimeConfig] = relationship()
    artifact: Mapped[Artifact | None] = relationship()
    leases: Mapped[list[JobLease]] = relationship(
        back_populates="job", order_by="JobLease.leased_at"
    )
    measurement: Mapped[Measurement | None] = relationship(
        back_populates="job", viewonly=True, uselist=False
    )


# Queued jobs in the claim's order (repositories.jobs.next_claimable): a claim reads the first
# row of this index instead of sorting the device's queue.
Index(
    "ix_profiling_jobs_claim_order",
    ProfilingJob.device_id,
    ProfilingJob.priority.desc(),
    ProfilingJob.created_at,
    ProfilingJob.id,
    sqlite_where=text(QUEUED),
    postgresql_where=text(QUEUED),
)


class JobLease(Base):
    """One attempt of one agent at a job; at most one ``live`` lease per job (partial index)."""

    __tablename__ = "job_leases"
    __table_args__ = (
        CheckConstraint(check_in("state", LeaseState), name="state"),
        Index("ix_job_leases_expiry", "state", "expires_at"),
        Index(
            "uq_job_leases_one_live_per_job",
            "job_id",
            unique=True,
            sqlite_where=text("state = 'live'"),
            postgresql_where=text("state = 'live'"),
        ),
    )

    id: Mapped[str] = id_column()
    job_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("profiling_jobs.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    attempt: Mapped[int]
    state: Mapped[LeaseState] = mapped_column(enum_type(LeaseState), default=LeaseState.LIVE)
    leased_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    job: Mapped[ProfilingJob] = relationship(back_populates="leases")
    agent: Mapped[Agent] = relationship()
