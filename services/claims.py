"""An agent's claim of its next job, in the caller's transaction: the claim long-poll makes
one per attempt; a completion that asks for the next job makes one after storing its result.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from sqlalchemy.orm import Session

from latency_db.models import Agent, Measurement
from latency_db.repositories import leases as lease_repo
from latency_db.repositories.leases import Claim
from latency_db.repositories.sentinels import SentinelSchedule, record_agent_session
from latency_db.sentinel import ensure_sentinel_artifact
from latency_db.settings import Settings
from services.schemas.agents import ClaimedJob, ClaimOut

AgentSessionId = Annotated[
    str | None,
    Query(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the agent process's session; a new one means the agent restarted",
    ),
]


def _sentinel_schedule(
    request: Request, session: Session, settings: Settings
) -> SentinelSchedule | None:
    """The server's sentinel schedule. The sentinel artifact is stored by the first claim
    and remembered once a claim has committed (``remember_committed``; artifacts are never
    deleted)."""
    if not settings.sentinel:
        return None
    sha256 = getattr(request.app.state, "sentinel_sha256", None)
    if sha256 is None:
        store = request.app.state.artifact_store
        sha256 = ensure_sentinel_artifact(session=session, store=store).sha256
    return SentinelSchedule(
        artifact_sha256=sha256,
        every_jobs=settings.sentinel_every_jobs,
        every_minutes=settings.sentinel_every_minutes,
        max_attempts=settings.max_attempts,
    )


def _claim_out(claimed: Claim, settings: Settings) -> ClaimOut:
    job = claimed.job
    return ClaimOut(
        lease_token=claimed.token,
        lease_s=settings.lease_seconds,
        expires_at=claimed.lease.expires_at,
        job=ClaimedJob(
            id=job.id,
            kind=job.kind.value,
            subject=job.subject,
            space_ref=job.space_ref,
            batch_size=job.batch_size,
            input_shape=job.input_shape,
            artifact_sha256=job.artifact_sha256 or "",
            backend=job.runtime_config.backend,
            settings=job.runtime_config.settings,
            attempt=job.attempt,
        ),
    )


class NextJobClaim:
    """One claim for ``agent`` in ``session``'s transaction (``take``); once the caller has
    committed, ``remember_committed`` keeps the sentinel artifact it may have stored."""

    def __init__(self, request: Request, settings: Settings) -> None:
        self.request = request
        self.settings = settings
        self._sentinel: SentinelSchedule | None = None

    def take(self, session: Session, agent: Agent, session_id: str | None) -> ClaimOut | None:
        """The lease of the agent's next job (a due sentinel first), None when none is
        queued; ``session_id`` is the agent process's session (a new one: it restarted)."""
        record_agent_session(session=session, agent=agent, session_id=session_id)
        self._sentinel = _sentinel_schedule(self.request, session, self.settings)
        claimed = lease_repo.claim_job(
            session=session,
            agent=agent,
            lease_seconds=self.settings.lease_seconds,
            sentinel=self._sentinel,
        )
        return None if claimed is None else _claim_out(claimed, self.settings)

    def take_again(
        self, session: Session, agent: Agent, measurement: Measurement
    ) -> ClaimOut | None:
        """The lease this result's first upload took (its answer was lost), under a new
        token; None when it took none."""
        claimed = lease_repo.reissue_lease_taken_with(
            session=session, agent=agent, measurement=measurement
        )
        return None if claimed is None else _claim_out(claimed, self.settings)

    def remember_committed(self) -> None:
        if self._sentinel is not None:
            self.request.app.state.sentinel_sha256 = self._sentinel.artifact_sha256
