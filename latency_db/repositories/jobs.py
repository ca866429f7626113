"""Profiling jobs: create, enqueue the missing LUT entries, attach artifacts, cancel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import Conflict, NotFound, PermissionDenied
from latency_db.models import (
    Agent,
    Artifact,
    Device,
    JobKind,
    JobState,
    ProfilingJob,
    RuntimeConfig,
    User,
)
from latency_db.repositories.common import (
    add_or_conflict,
    check_name,
    check_positive_int,
    check_shape,
    get_or_not_found,
    parse_enum,
)
from latency_db.repositories.devices import can_see, visible_device_ids
from latency_db.repositories.measurements import EVERY_VERDICT, lookup_table

ACTIVE_STATES = (JobState.QUEUED, JobState.LEASED)


@dataclass(frozen=True)
class LutProgress:
    """How far a lookup table is: ``measured`` of ``total`` keys, and the jobs in flight.

    ``unclean`` of the measured keys have no clean measurement (only unstable or disturbed
    ones, kept out of the table by default); building the table again re-measures them.
    """

    total: int
    measured: int
    queued: int
    leased: int
    failed: int
    unclean: int


def create_job(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    kind: JobKind | str,
    subject: str,
    batch_size: int,
    input_shape: Sequence[int],
    max_attempts: int,
    artifact: Artifact | None = None,
    space_ref: str | None = None,
    priority: int = 0,
) -> ProfilingJob:
    """A QUEUED job; without ``artifact`` it waits for ``attach_artifact`` before agents see it."""
    check_positive_int(batch_size, "batch_size")
    check_positive_int(max_attempts, "max_attempts")
    now = db_now(session)
    job = ProfilingJob(
        device_id=device.id,
        runtime_config_id=runtime_config.id,
        kind=parse_enum(JobKind, kind, "kind"),
        subject=check_name(subject, "subject", 100_000),
        space_ref=space_ref,
        batch_size=batch_size,
        input_shape=check_shape(input_shape),
        artifact_sha256=None if artifact is None else artifact.sha256,
        state=JobState.QUEUED,
        attempt=1,
        max_attempts=max_attempts,
        priority=priority,
        cancel_requested=False,
        created_at=now,
        updated_at=now,
    )
    add_or_conflict(session, job, f"an op job for {subject!r} is already queued or leased")
    return job


def get_job(*, session: Session, job_id: str, viewer: User | None = None) -> ProfilingJob:
    """The job, or ``NotFound`` also when ``viewer`` may not see its device."""
    job = get_or_not_found(session, ProfilingJob, job_id, "profiling job")
    if not can_see(viewer, job.device):
        raise NotFound(f"profiling job {job_id!r} not found")
    return job


def get_job_for_agent(*, session: Session, agent: Agent, job_id: str) -> ProfilingJob:
    """A job an agent may see: one of its own device's, else ``PermissionDenied``."""
    job = get_job(session=session, job_id=job_id)
    if job.device_id != agent.device_id:
        raise PermissionDenied(f"profiling job {job_id} belongs to another device")
    return job


def list_jobs(
    *,
    session: Session,
    device: Device | None = None,
    state: JobState | str | None = None,
    limit: int = 100,
    offset: int = 0,
    viewer: User | None = None,
) -> list[ProfilingJob]:
    """Newest first, optionally for one device and/or state; only of devices ``viewer``
    sees (``devices.can_see``)."""
    stmt = select(ProfilingJob).order_by(ProfilingJob.created_at.desc(), ProfilingJob.id.desc())
    if (visible := visible_device_ids(viewer)) is not None:
        stmt = stmt.where(ProfilingJob.device_id.in_(visible))
    if device is not None:
        stmt = stmt.where(ProfilingJob.device_id == device.id)
    if state is not None:
        stmt = stmt.where(ProfilingJob.state == parse_enum(JobState, state, "state"))
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def attach_artifact(*, session: Session, job: ProfilingJob, artifact: Artifact) -> ProfilingJob:
    """Give a job its exported artifact (idempotent for the same artifact)."""
    if job.artifact_sha256 == artifact.sha256:
        return job
    if job.artifact_sha256 is not None:
        raise Conflict(f"profiling job {job.id} already has artifact {job.artifact_sha256}")
    job.artifact_sha256 = artifact.sha256
    job.updated_at = db_now(session)
    session.flush()
    return job


def _active_op_subjects(
    session: Session, device: Device, runtime_config: RuntimeConfig, batch_size: int
) -> set[str]:
    stmt = select(ProfilingJob.subject).where(
        ProfilingJob.device_id == device.id,
        ProfilingJob.runtime_config_id == runtime_config.id,
        ProfilingJob.kind == JobKind.OP,
        ProfilingJob.batch_size == batch_size,
        ProfilingJob.state.in_(ACTIVE_STATES),
    )
    return set(session.scalars(stmt))


def enqueue_op_jobs(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space_ref: str,
    batch_size: int,
    ops: Mapping[str, Sequence[int]],
    max_attempts: int,
    priority: int = 0,
) -> list[ProfilingJob]:
    """One ``op`` job per key of ``ops`` (op key -> input shape) that has neither a clean LUT
    entry nor a queued/leased job here yet; calling it again creates nothing new while
    nothing was measured meanwhile. Returns the new jobs, which have no artifact yet (see
    ``attach_artifact``)."""
    measured = lookup_table(
        session=session,
        device=device,
        runtime_config=runtime_config,
        batch_size=batch_size,
        op_keys=list(ops),
    )
    skip = set(measured) | _active_op_subjects(session, device, runtime_config, batch_size)
    created = []
    for key, shape in ops.items():
        if key in skip:
            continue
        try:
            job = create_job(
                session=session,
                device=device,
                runtime_config=runtime_config,
                kind=JobKind.OP,
                subject=key,
                batch_size=batch_size,
                input_shape=shape,
                max_attempts=max_attempts,
                space_ref=space_ref,
                priority=priority,
            )
        except Conflict:  # enqueued concurrently by another request
            continue
        created.append(job)
    return created


def lut_progress(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    batch_size: int,
    op_keys: Sequence[str],
) -> LutProgress:
    """Progress of building the LUT for ``op_keys``: keys with a clean entry are measured;
    each other key counts by its latest job (queued, leased) or, when none is in flight, as
    measured but unclean if it has a measurement of another verdict, else as failed if its
    latest job failed."""
    keys = list(dict.fromkeys(op_keys))
    clean = lookup_table(
        session=session,
        device=device,
        runtime_config=runtime_config,
        batch_size=batch_size,
        op_keys=keys,
    )
    pending = [k for k in keys if k not in clean]
    latest_state: dict[str, JobState] = {}
    unclean_measured: set[str] = set()
    if pending:
        ranked = (
            select(
                ProfilingJob.subject,
                ProfilingJob.state,
                func.row_number()
                .over(
                    partition_by=ProfilingJob.subject,
                    order_by=(ProfilingJob.created_at.desc(), ProfilingJob.id.desc()),
                )
                .label("rank"),
            )
            .where(
                ProfilingJob.device_id == device.id,
                ProfilingJob.runtime_config_id == runtime_config.id,
                ProfilingJob.kind == JobKind.OP,
                ProfilingJob.batch_size == batch_size,
                ProfilingJob.subject.in_(pending),
            )
            .subquery()
        )
        rows = session.execute(select(ranked.c.subject, ranked.c.state).where(ranked.c.rank == 1))
        latest_state = {subject: state for subject, state in rows}
        unclean_measured = set(
            lookup_table(
                session=session,
                device=device,
                runtime_config=runtime_config,
                batch_size=batch_size,
                op_keys=pending,
                include=EVERY_VERDICT,
            )
        )
    counts = dict.fromkeys(("queued", "leased", "unclean", "failed"), 0)
    for key in pending:
        state = latest_state.get(key)
        if state is not None and state in ACTIVE_STATES:
            counts[state.value] += 1
        elif key in unclean_measured:
            counts["unclean"] += 1
        elif state is JobState.FAILED:
            counts["failed"] += 1
    return LutProgress(total=len(keys), measured=len(clean) + counts["unclean"], **counts)


def cancel_job(*, session: Session, job: ProfilingJob) -> ProfilingJob:
    """Cancel a queued job now; a leased one is flagged and its agent told on its next
    heartbeat. Canceling a canceled job is a no-op; a finished one is a ``Conflict``."""
    session.refresh(job, with_for_update=True)  # a concurrent claim must not slip past
    if job.state is JobState.CANCELED:
        return job
    if job.state not in ACTIVE_STATES:
        raise Conflict(f"profiling job {job.id} already {job.state.value}")
    job.cancel_requested = True
    if job.state is JobState.QUEUED:
        job.state = JobState.CANCELED
    job.updated_at = db_now(session)
    session.flush()
    return job


def fail_unleased_job(
    *, session: Session, job: ProfilingJob, error_code: str, message: str
) -> ProfilingJob:
    """Fail a QUEUED job that no agent holds (its artifact could not be exported)."""
    session.refresh(job, with_for_update=True)
    if job.state is not JobState.QUEUED:
        raise Conflict(f"profiling job {job.id} is {job.state.value}, not queued")
    job.state = JobState.FAILED
    job.error_code = check_name(error_code, "error_code", 32)
    job.error_message = message[:4000]
    job.updated_at = db_now(session)
    session.flush()
    return job


def next_claimable(agent: Agent) -> Select[ProfilingJob]:
    """The job an agent claims next: a queued, exported, uncanceled job of its device for its
    backend, highest priority, then oldest (no lock taken; the claim adds one)."""
    return (
        select(ProfilingJob)
        .join(RuntimeConfig, RuntimeConfig.id == ProfilingJob.runtime_config_id)
        .where(
            ProfilingJob.device_id == agent.device_id,
            ProfilingJob.state == JobState.QUEUED,
            ProfilingJob.artifact_sha256.is_not(None),
            ProfilingJob.cancel_requested.is_(False),
            RuntimeConfig.backend == agent.backend,
        )
        .order_by(ProfilingJob.priority.desc(), ProfilingJob.created_at, ProfilingJob.id)
        .limit(1)
    )
