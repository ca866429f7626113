"""Leasing (design sections 7 and 8): claim, renew, complete, fail, release, expire.

Every deadline is judged on the database clock. At most one live lease per job holds under
concurrent claims: PostgreSQL picks the job with ``FOR UPDATE SKIP LOCKED``, both backends
move it with a conditional ``UPDATE ... WHERE state = 'queued'`` checked by its row count,
and a partial unique index backs it up. A result under a lease that is no longer live is
refused with ``StaleLeaseError`` and written nowhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from latency_db.db import db_now
from latency_db.errors import Conflict, NotFound, PermissionDenied, StaleLeaseError, ValidationError
from latency_db.models import (
    Agent,
    AgentState,
    DeviceState,
    JobKind,
    JobLease,
    JobState,
    LeaseState,
    Measurement,
    MeasurementSource,
    ProfilingJob,
    RuntimeConfig,
    SubjectKind,
)
from latency_db.repositories.common import check_name, check_positive_int, parse_enum
from latency_db.repositories.jobs import next_claimable
from latency_db.repositories.measurements import (
    add_measurement,
    get_measurement_by_idempotency_key,
)
from latency_db.repositories.sentinels import SentinelSchedule, queue_due_sentinel
from latency_db.repositories.speed import add_speed_sample, reading_for, stable_sentinel
from latency_db.security import LEASE_TOKEN, generate_token, hash_token
from latency_db.timing_stats import compute_stats
from latency_db.verdicts import parse_claim, settle_verdict

_CLAIM_TRIES = 5
LEASE_EXPIRED = "lease_expired"


class FailureCode(str, Enum):
    """Why an agent gave up a job. The first four are worth another attempt."""

    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    UNSTABLE = "unstable"
    DEVICE_LOST = "device_lost"
    EXPORT_ERROR = "export_error"
    INVALID_ARTIFACT = "invalid_artifact"


RETRYABLE = frozenset(
    {FailureCode.RUNTIME_ERROR, FailureCode.TIMEOUT, FailureCode.UNSTABLE, FailureCode.DEVICE_LOST}
)

_SUBJECT_KIND = {
    JobKind.OP: SubjectKind.OP,
    JobKind.NETWORK: SubjectKind.NETWORK,
    JobKind.LAYERS: SubjectKind.NETWORK,
    JobKind.MODEL: SubjectKind.MODEL,
    JobKind.SENTINEL: SubjectKind.SENTINEL,
}


@dataclass(frozen=True)
class Claim:
    """A new lease, its job and its token (plaintext, handed to the agent once)."""

    lease: JobLease
    job: ProfilingJob
    token: str


def _next_queued(session: Session, agent: Agent) -> tuple[str, RuntimeConfig] | None:
    """The id and runtime configuration of the job the agent claims next; on PostgreSQL its
    row is locked, and rows other claims hold are skipped."""
    stmt = next_claimable(agent).with_only_columns(ProfilingJob.id, RuntimeConfig)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=ProfilingJob)
    row = session.execute(stmt).first()
    if row is None:
        return None
    job_id, runtime_config = row
    return job_id, runtime_config


def _first_candidate(
    session: Session, agent: Agent, sentinel: SentinelSchedule | None
) -> tuple[str, RuntimeConfig] | None:
    """The id and runtime configuration of the job to claim: the next queued one, or a
    sentinel queued ahead of it (under the same configuration) when one is due."""
    row = _next_queued(session, agent)
    if row is None:
        return None
    runtime_config = row[1]
    if sentinel is not None:
        due = queue_due_sentinel(
            session=session, agent=agent, runtime_config_id=runtime_config.id, schedule=sentinel
        )
        if due is not None:
            return due.id, runtime_config
    return row


def _take(session: Session, job_id: str, now: datetime) -> ProfilingJob | None:
    """Compare-and-set QUEUED -> LEASED; the job as written, or None when another claim
    moved it first."""
    return session.scalars(
        update(ProfilingJob)
        .where(ProfilingJob.id == job_id, ProfilingJob.state == JobState.QUEUED)
        .values(state=JobState.LEASED, updated_at=now)
        .returning(ProfilingJob),
        execution_options={"populate_existing": True, "synchronize_session": False},
    ).first()


def claim_job(
    *,
    session: Session,
    agent: Agent,
    lease_seconds: int,
    sentinel: SentinelSchedule | None = None,
) -> Claim | None:
    """Lease the next queued job of the agent's device for its backend (highest priority,
    then oldest), or None when there is none or the agent/device takes no new work.
    Expired leases of the device are returned to the queue first; with a ``sentinel``
    schedule, a due sentinel job is queued ahead of the next job (repositories.sentinels)."""
    check_positive_int(lease_seconds, "lease_seconds")
    if agent.state in (AgentState.DRAINING, AgentState.DISABLED):
        return None
    if agent.device.state is not DeviceState.ACTIVE:
        return None
    expire_leases(session=session, device_id=agent.device_id)
    now = db_now(session)
    candidate = _first_candidate(session, agent, sentinel)
    for _ in range(_CLAIM_TRIES):
        if candidate is None:
            return None
        job_id, runtime_config = candidate
        job = _take(session, job_id, now)
        if job is not None:
            break
        candidate = _next_queued(session, agent)
    else:
        return None
    # The claim's answer names the runtime configuration: no second read of it.
    set_committed_value(job, "runtime_config", runtime_config)
    token = generate_token(LEASE_TOKEN)
    lease = JobLease(
        job_id=job.id,
        agent_id=agent.id,
        token_hash=hash_token(token),
        attempt=job.attempt,
        state=LeaseState.LIVE,
        leased_at=now,
        expires_at=now + timedelta(seconds=lease_seconds),
    )
    session.add(lease)
    session.flush()
    return Claim(lease=lease, job=job, token=token)


def reissue_lease_taken_with(
    *, session: Session, agent: Agent, measurement: Measurement
) -> Claim | None:
    """The live lease the agent took in the transaction that stored ``measurement`` (a
    complete-and-claim whose answer never reached it: the transaction's clock stamps both),
    under a new token; None when there is none (a fresh result, or a plain completion).
    The old token stops working."""
    now = db_now(session)
    if measurement.created_at == now:  # stored just now: nothing was leased with it yet
        return None
    lease = session.scalars(
        select(JobLease)
        .where(
            JobLease.agent_id == agent.id,
            JobLease.state == LeaseState.LIVE,
            JobLease.leased_at == measurement.created_at,
            JobLease.expires_at > now,
        )
        .options(
            joinedload(JobLease.job, innerjoin=True).joinedload(
                ProfilingJob.runtime_config, innerjoin=True
            )
        )
        .with_for_update(of=JobLease)
    ).first()
    if lease is None:
        return None
    token = generate_token(LEASE_TOKEN)
    lease.token_hash = hash_token(token)
    session.flush()
    return Claim(lease=lease, job=lease.job, token=token)


def _lease_of_agent(session: Session, agent: Agent, token: str) -> JobLease:
    """The lease (row locked) with its job and the job's runtime configuration, in one read.
    The job's device is the agent's own, loaded with it (``authenticate_agent``): the
    session's identity map answers ``job.device`` without a query."""
    lease = session.scalars(
        select(JobLease)
        .where(JobLease.token_hash == hash_token(token))
        .options(
            joinedload(JobLease.job, innerjoin=True).joinedload(
                ProfilingJob.runtime_config, innerjoin=True
            )
        )
        .with_for_update(of=JobLease)
    ).first()
    if lease is None:
        raise NotFound("lease not found")
    if lease.agent_id != agent.id:
        raise PermissionDenied("the lease belongs to another agent")
    return lease


def _require_live(lease: JobLease, now: datetime) -> None:
    if lease.state is not LeaseState.LIVE:
        raise StaleLeaseError(f"lease is {lease.state.value}, no longer live")
    if lease.expires_at <= now:
        raise StaleLeaseError("lease has expired")


def _end_lease(session: Session, lease: JobLease, state: LeaseState, now: datetime) -> None:
    """Move a live lease to ``state``; losing a race to another writer is a stale lease."""
    moved = session.execute(
        update(JobLease)
        .where(JobLease.id == lease.id, JobLease.state == LeaseState.LIVE)
        .values(state=state, finished_at=now)
        .execution_options(synchronize_session="evaluate")  # the loaded lease follows
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleLeaseError("lease is no longer live")


def _after_attempt(
    job: ProfilingJob,
    *,
    now: datetime,
    error_code: str | None,
    message: str | None,
    penalty: bool,
    retry: bool = True,
) -> None:
    """Where a job goes when its lease ends without a result: canceled if asked, else back
    to QUEUED (with ``attempt + 1`` when the attempt counts) or FAILED when none are left."""
    job.updated_at = now
    job.error_code, job.error_message = error_code, message
    if job.cancel_requested:
        job.state = JobState.CANCELED
    elif not retry or (penalty and job.attempt >= job.max_attempts):
        job.state = JobState.FAILED
    else:
        job.state = JobState.QUEUED
        job.attempt += 1 if penalty else 0


def renew_lease(
    *, session: Session, agent: Agent, lease_token: str, lease_seconds: int
) -> JobLease:
    """Extend a live lease to ``now + lease_seconds``; ``lease.job.cancel_requested`` tells
    the agent to stop.

    One conditional ``UPDATE``; only when it moves nothing is the lease read to say why
    (unknown, another agent's, or no longer live)."""
    check_positive_int(lease_seconds, "lease_seconds")
    now = db_now(session)
    renewed = session.scalars(
        update(JobLease)
        .where(
            JobLease.token_hash == hash_token(lease_token),
            JobLease.agent_id == agent.id,
            JobLease.state == LeaseState.LIVE,
            JobLease.expires_at > now,
        )
        .values(expires_at=now + timedelta(seconds=lease_seconds))
        .returning(JobLease),
        execution_options={"populate_existing": True, "synchronize_session": False},
    ).first()
    if renewed is not None:
        return renewed
    _require_live(_lease_of_agent(session, agent, lease_token), now)
    raise StaleLeaseError("lease is no longer live")  # it ended between the two reads


def complete_lease(
    *,
    session: Session,
    agent: Agent,
    lease_token: str,
    idempotency_key: str,
    times_ms: Sequence[float],
    environment: dict[str, Any],
    layer_profile: dict[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
    verdict: Mapping[str, Any] | None = None,
) -> Measurement:
    """Store the result of a lease as one measurement and finish the job.

    ``evidence`` and ``verdict`` are the agent's interference evidence and its verdict
    (``latency_db.verdicts``); an agent from before verdicts sends neither.
    Idempotent: the same ``idempotency_key`` again returns the measurement already written.
    A lease that is not live (expired, superseded, finished) raises ``StaleLeaseError``;
    bad timings, evidence or verdicts raise ``ValidationError``; either way nothing is written.
    """
    idempotency_key = check_name(idempotency_key, "idempotency_key", 128)
    claim = None if verdict is None else parse_claim(verdict)
    lease = _lease_of_agent(session, agent, lease_token)
    now = db_now(session)
    if lease.state is not LeaseState.LIVE or lease.expires_at <= now:
        # A live lease has no result yet: only a finished one may have this key's.
        earlier = _earlier_result(session, idempotency_key, lease)
        if earlier is not None:
            return earlier
        _require_live(lease, now)
    job = lease.job
    if job.kind is JobKind.LAYERS and layer_profile is None:
        raise ValidationError("a layers job needs layer_profile")
    sentinel_stats = compute_stats(times_ms) if job.kind is JobKind.SENTINEL else None
    speed = reading_for(
        session=session,
        device_id=job.device_id,
        runtime_config_id=job.runtime_config_id,
        sentinel_median_ms=None if sentinel_stats is None else sentinel_stats.median_ms,
        stable=sentinel_stats is None
        or stable_sentinel(
            settle_verdict(claim, sentinel_stats).verdict,
            sentinel_stats.median_ms,
            sentinel_stats.median_ci_ms,
        ),
    )
    try:
        with session.begin_nested():  # a lost race below undoes the measurement too
            measurement = add_measurement(  # validates everything before it writes
                session=session,
                device=job.device,
                runtime_config=job.runtime_config,
                subject_kind=_SUBJECT_KIND[job.kind],
                subject=job.subject,
                batch_size=job.batch_size,
                input_shape=job.input_shape,
                times_ms=times_ms,
                environment=environment,
                source=MeasurementSource.AGENT,
                space_ref=job.space_ref,
                job=job,
                agent=agent,
                layer_profile=layer_profile,
                idempotency_key=idempotency_key,
                speed_index=speed.speed_index,
                evidence=evidence,
                verdict=claim,
            )
            if sentinel_stats is not None:
                add_speed_sample(session=session, measurement=measurement, reading=speed)
            _end_lease(session, lease, LeaseState.COMPLETED, now)
            job.state = JobState.SUCCEEDED
            job.error_code = job.error_message = None
            job.updated_at = now
            session.flush()
    except IntegrityError:
        # The key of another job's result (a live lease has none of its own yet).
        _earlier_result(session, idempotency_key, lease)
        raise
    return measurement


def _earlier_result(session: Session, idempotency_key: str, lease: JobLease) -> Measurement | None:
    """The result already stored under ``idempotency_key`` for the lease's job (a repeated
    complete), None when the key is unused; ``Conflict`` when another job used it."""
    earlier = get_measurement_by_idempotency_key(session=session, key=idempotency_key)
    if earlier is not None and earlier.job_id != lease.job_id:
        raise Conflict("idempotency key was used for another job", code="idempotency_key_reused")
    return earlier


def fail_lease(
    *,
    session: Session,
    agent: Agent,
    lease_token: str,
    error_code: FailureCode | str,
    message: str = "",
) -> ProfilingJob:
    """The agent gave up: retryable codes requeue the job (attempt + 1) while attempts
    remain, the others fail it now."""
    code = parse_enum(FailureCode, error_code, "error_code")
    lease = _lease_of_agent(session, agent, lease_token)
    now = db_now(session)
    _require_live(lease, now)
    _end_lease(session, lease, LeaseState.FAILED, now)
    job = lease.job
    _after_attempt(
        job,
        now=now,
        error_code=code.value,
        message=message[:4000],
        penalty=True,
        retry=code in RETRYABLE,
    )
    session.flush()
    return job


def release_lease(*, session: Session, agent: Agent, lease_token: str) -> ProfilingJob:
    """Give a job back unfinished (agent shutting down): requeued without using an attempt."""
    lease = _lease_of_agent(session, agent, lease_token)
    now = db_now(session)
    _require_live(lease, now)
    _end_lease(session, lease, LeaseState.RELEASED, now)
    job = lease.job
    _after_attempt(job, now=now, error_code=None, message=None, penalty=False)
    session.flush()
    return job


def expire_leases(*, session: Session, device_id: str | None = None) -> list[ProfilingJob]:
    """Expire live leases past their deadline on the database clock: each job goes back to
    QUEUED with ``attempt + 1``, or to FAILED(``lease_expired``) after ``max_attempts``."""
    now = db_now(session)
    stmt = select(JobLease).where(JobLease.state == LeaseState.LIVE, JobLease.expires_at <= now)
    if device_id is not None:
        stmt = stmt.join(ProfilingJob, ProfilingJob.id == JobLease.job_id).where(
            ProfilingJob.device_id == device_id
        )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=JobLease)
    jobs: list[ProfilingJob] = []
    for lease in session.scalars(stmt).all():
        try:
            _end_lease(session, lease, LeaseState.EXPIRED, now)
        except StaleLeaseError:  # finished by its agent meanwhile
            continue
        job = lease.job
        _after_attempt(
            job,
            now=now,
            error_code=LEASE_EXPIRED,
            message="lease was not renewed in time",
            penalty=True,
        )
        jobs.append(job)
    session.flush()
    return jobs
