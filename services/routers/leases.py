"""A held lease: renew it, complete it with a result (and claim the next job in the same
request), fail it, or give it back.

The lease token travels in the ``Lease-Token`` header, never in the URL, so it stays out of
access logs and proxies' caches.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy.orm import Session

from latency_db.models import Agent, Measurement, ProfilingJob
from latency_db.repositories import leases as lease_repo
from services.claims import AgentSessionId, NextJobClaim
from services.deps import AgentCredential, SessionDep, SettingsDep, authenticated_agent
from services.schemas.agents import (
    CompletedAndClaimedOut,
    CompleteIn,
    FailIn,
    JobStateOut,
    LeaseOut,
)
from services.schemas.jobs import MeasurementOut

router = APIRouter(prefix="/leases", tags=["leases"])

LeaseToken = Annotated[
    str,
    Header(
        alias="Lease-Token",
        min_length=8,
        max_length=128,
        description="the token the claim answered with (shown once)",
    ),
]


def _job_state(job: ProfilingJob) -> JobStateOut:
    return JobStateOut(
        job_id=job.id, state=job.state.value, attempt=job.attempt, error_code=job.error_code
    )


@router.post("/renew", response_model=LeaseOut)
def renew(
    lease_token: LeaseToken, credential: AgentCredential, session: SessionDep, settings: SettingsDep
) -> LeaseOut:
    """Extend a held lease by the lease period (database clock); 409 once superseded."""
    agent = authenticated_agent(session, credential)
    lease = lease_repo.renew_lease(
        session=session, agent=agent, lease_token=lease_token, lease_seconds=settings.lease_seconds
    )
    session.commit()
    return LeaseOut(job_id=lease.job_id, state=lease.state.value, expires_at=lease.expires_at)


def _store_result(
    session: Session, agent: Agent, lease_token: str, body: CompleteIn
) -> Measurement:
    return lease_repo.complete_lease(
        session=session,
        agent=agent,
        lease_token=lease_token,
        idempotency_key=body.idempotency_key,
        times_ms=body.times_ms,
        environment=body.environment,
        layer_profile=body.layer_profile,
        evidence=body.evidence,
        verdict=None if body.verdict is None else body.verdict.model_dump(),
    )


@router.post("/complete", response_model=MeasurementOut)
def complete(
    lease_token: LeaseToken, body: CompleteIn, credential: AgentCredential, session: SessionDep
) -> MeasurementOut:
    """Store the result (idempotent by ``idempotency_key``); 409 for a superseded lease."""
    stored = _store_result(session, authenticated_agent(session, credential), lease_token, body)
    session.commit()
    return MeasurementOut.model_validate(stored)


@router.post("/complete-and-claim", response_model=CompletedAndClaimedOut)
def complete_and_claim(
    request: Request,
    lease_token: LeaseToken,
    body: CompleteIn,
    credential: AgentCredential,
    session: SessionDep,
    settings: SettingsDep,
    session_id: AgentSessionId = None,
) -> CompletedAndClaimedOut:
    """``/leases/complete``, then the claim of the agent's next job in the same transaction:
    one round trip per job instead of two for an agent that keeps working. ``next`` is null
    when no job is queued (the agent then long-polls ``/agents/claim``); a refused result
    (409, 422) leases nothing. The same result sent again (its answer was lost) answers the
    lease its first upload took, under a new token, rather than leasing one more."""
    agent = authenticated_agent(session, credential)
    stored = _store_result(session, agent, lease_token, body)
    claim = NextJobClaim(request, settings)
    next_job = claim.take_again(session, agent, stored) or claim.take(session, agent, session_id)
    session.commit()
    claim.remember_committed()
    return CompletedAndClaimedOut(measurement=MeasurementOut.model_validate(stored), next=next_job)


@router.post("/fail", response_model=JobStateOut)
def fail(
    lease_token: LeaseToken, body: FailIn, credential: AgentCredential, session: SessionDep
) -> JobStateOut:
    """Report that the job failed on this agent; it is retried until ``max_attempts``."""
    agent = authenticated_agent(session, credential)
    job = lease_repo.fail_lease(
        session=session,
        agent=agent,
        lease_token=lease_token,
        error_code=body.error_code,
        message=body.message,
    )
    session.commit()
    return _job_state(job)


@router.post("/release", response_model=JobStateOut)
def release(
    lease_token: LeaseToken, credential: AgentCredential, session: SessionDep
) -> JobStateOut:
    """Give the job back without an attempt penalty (the agent is shutting down)."""
    agent = authenticated_agent(session, credential)
    job = lease_repo.release_lease(session=session, agent=agent, lease_token=lease_token)
    session.commit()
    return _job_state(job)
