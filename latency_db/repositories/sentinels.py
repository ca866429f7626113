"""When a device's agent measures the sentinel (issue 16 item 4), decided in the claim path
so that every agent gets it with no change of its own.

A sentinel job for (device, runtime configuration) is due, before the next job of that
runtime configuration an agent would claim, when

- there has never been one (the device's first job under the configuration),
- the claiming agent's process started after the latest one (a restart, seen as a new
  ``session_id`` on its claims; see :func:`record_agent_session`),
- ``every_jobs`` jobs of the configuration were completed since the latest one, or
- ``every_minutes`` passed since the latest one, on the database clock.

It is created at :data:`SENTINEL_PRIORITY`, above any user priority, so the same claim
leases it; the partial unique index on active jobs keeps one per (device, configuration).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import Conflict
from latency_db.models import (
    Agent,
    Artifact,
    JobKind,
    Measurement,
    ProfilingJob,
    RuntimeConfig,
    SubjectKind,
)
from latency_db.repositories.common import check_name
from latency_db.repositories.jobs import ACTIVE_STATES, create_job
from latency_db.sentinel import INPUT_SHAPE, SENTINEL_SUBJECT

SENTINEL_PRIORITY = 1_000_000  # user priorities are within +-100


@dataclass(frozen=True)
class SentinelSchedule:
    """The server's sentinel settings and the sha256 of the stored sentinel artifact (read
    only when a sentinel is queued)."""

    artifact_sha256: str
    every_jobs: int
    every_minutes: float
    max_attempts: int


def record_agent_session(*, session: Session, agent: Agent, session_id: str | None) -> bool:
    """Note the agent process's session id (sent with its claims); True when it is new, i.e.
    the agent (re)started. An agent that sends none is never seen restarting."""
    if session_id is None or session_id == agent.session_id:
        return False
    agent.session_id = check_name(session_id, "session_id", 64)
    agent.session_started_at = db_now(session)
    session.flush()
    return True


def due_reason(
    *, session: Session, agent: Agent, runtime_config_id: str, schedule: SentinelSchedule
) -> str | None:
    """Why a sentinel of the agent's device under ``runtime_config_id`` is due, or None.

    One read: the latest sentinel job with the count of job results written after it.
    """
    # Ids are ULIDs that sort by creation (strictly within a process), so counting results
    # written after the sentinel job was created needs no clock and no tie-breaking.
    finished_since = (
        select(func.count())
        .select_from(Measurement)
        .where(
            Measurement.device_id == agent.device_id,
            Measurement.runtime_config_id == runtime_config_id,
            Measurement.subject_kind != SubjectKind.SENTINEL,
            Measurement.job_id.is_not(None),
            Measurement.id > ProfilingJob.id,
        )
        .scalar_subquery()
    )
    row = session.execute(
        select(ProfilingJob, finished_since)
        .where(
            ProfilingJob.device_id == agent.device_id,
            ProfilingJob.runtime_config_id == runtime_config_id,
            ProfilingJob.kind == JobKind.SENTINEL,
        )
        .order_by(ProfilingJob.created_at.desc(), ProfilingJob.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return "first job under this runtime configuration"
    latest, finished = row
    if latest.state in ACTIVE_STATES:
        return None
    if agent.session_started_at is not None and latest.created_at < agent.session_started_at:
        return "agent restarted"
    now = db_now(session)
    if latest.created_at <= now - timedelta(minutes=schedule.every_minutes):
        return f"{schedule.every_minutes:g} minutes since the last sentinel"
    if finished >= schedule.every_jobs:
        return f"{finished} jobs since the last sentinel"
    return None


def queue_due_sentinel(
    *, session: Session, agent: Agent, runtime_config_id: str, schedule: SentinelSchedule
) -> ProfilingJob | None:
    """Queue the sentinel under ``runtime_config_id`` (that of the job the agent would claim
    next) when it is due (else None)."""
    reason = due_reason(
        session=session, agent=agent, runtime_config_id=runtime_config_id, schedule=schedule
    )
    if reason is None:
        return None
    try:
        return create_job(
            session=session,
            device=agent.device,
            runtime_config=session.get_one(RuntimeConfig, runtime_config_id),
            kind=JobKind.SENTINEL,
            subject=SENTINEL_SUBJECT,
            batch_size=INPUT_SHAPE[0],
            input_shape=INPUT_SHAPE,
            max_attempts=schedule.max_attempts,
            artifact=session.get_one(Artifact, schedule.artifact_sha256),
            priority=SENTINEL_PRIORITY,
        )
    except Conflict:  # another agent's claim queued it meanwhile
        return None
