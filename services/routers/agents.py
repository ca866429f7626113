"""Agent-facing routes: enroll with a one-time token, heartbeat, claim work (long-poll)."""

from __future__ import annotations

from functools import partial

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Query, Request, Response

from latency_db.db import session_scope
from latency_db.repositories import agents as agent_repo
from latency_db.repositories import enrollment as enrollment_repo
from latency_db.settings import Settings
from services.claims import AgentSessionId, NextJobClaim
from services.deps import AgentCredential, SessionDep, SettingsDep, authenticated_agent
from services.long_polls import poll
from services.schemas.agents import (
    ClaimOut,
    EnrollIn,
    EnrollOut,
    HeartbeatIn,
    HeartbeatOut,
)

router = APIRouter(prefix="/agents", tags=["agents"])

MAX_CLAIM_WAIT_S = 30.0
# The body limit of an enrollment or a heartbeat: an environment report, a few lease tokens.
AGENT_REPORT_BYTES = 64 * 1024
# Threads of their own for heartbeats (app.state.heartbeat_limiter); with the shared
# threadpool's (settings.api_threads) they must fit the database pool (size + overflow).
# 200 agents starting together (bench/agent_load.py) queued their first beats behind 4 such
# threads: first-beat p99 2.8-3.0 s, against 1.9-2.0 s with 16 (32: 1.8 s and a dropped
# connection).
HEARTBEAT_THREADS = 16
# A waiting claim looks again after 0.5 s, 1 s, then every 2 s: among many idle agents some
# look every moment, and idle agents cost the database a few reads each per wait.
_POLL_S, _MAX_POLL_S = 0.5, 2.0


@router.post("/enroll", status_code=201, response_model=EnrollOut)
def enroll(body: EnrollIn, session: SessionDep, settings: SettingsDep) -> EnrollOut:
    """Exchange a one-time enrollment token for this agent's own credential (shown once)."""
    agent, credential = enrollment_repo.enroll_agent(
        session=session,
        token=body.enrollment_token,
        name=body.name,
        backend=body.backend,
        environment=body.environment,
    )
    session.commit()
    return EnrollOut(
        agent_id=agent.id,
        device_id=agent.device_id,
        credential=credential,
        heartbeat_s=settings.heartbeat_seconds,
        lease_s=settings.lease_seconds,
    )


@router.post("/heartbeat", response_model=HeartbeatOut)
async def heartbeat(
    request: Request, body: HeartbeatIn, credential: AgentCredential, settings: SettingsDep
) -> HeartbeatOut:
    """Record liveness on the database clock; answer which held leases must stop.

    Runs on the heartbeat threads (``app.state.heartbeat_limiter``), not the shared
    threadpool, so a heartbeat never queues behind claims and results: an agent whose
    heartbeats waited would go stale and lose its leases under load.
    """

    def beat() -> HeartbeatOut:
        with session_scope(request.app.state.session_factory) as session:
            agent = authenticated_agent(session, credential)
            beat = agent_repo.heartbeat(
                session=session,
                agent=agent,
                lease_tokens=body.lease_tokens,
                environment=body.environment,
            )
        return HeartbeatOut(
            server_time=beat.server_time,
            heartbeat_s=settings.heartbeat_seconds,
            canceled=beat.cancel,
        )

    limiter: CapacityLimiter = request.app.state.heartbeat_limiter
    return await to_thread.run_sync(beat, limiter=limiter)


def _claim_once(
    request: Request, credential: str, settings: Settings, session_id: str | None
) -> ClaimOut | None:
    """One claim attempt in its own transaction (the database clock is per transaction),
    the agent authenticated in it: a disabled agent stops getting work while it waits."""
    claim = NextJobClaim(request, settings)
    with session_scope(request.app.state.session_factory) as session:
        answer = claim.take(session, authenticated_agent(session, credential), session_id)
    claim.remember_committed()
    return answer


@router.post(
    "/claim",
    response_model=ClaimOut,
    responses={204: {"description": "no work within the wait"}},
)
async def claim(
    request: Request,
    credential: AgentCredential,
    settings: SettingsDep,
    wait: float = Query(default=0.0, ge=0.0, le=MAX_CLAIM_WAIT_S, description="long-poll seconds"),
    session_id: AgentSessionId = None,
) -> ClaimOut | Response:
    """Lease the next job of the agent's device and backend; 204 when none came in ``wait``.

    The long-poll ends early when the agent hangs up (a stopped agent holds nothing) or the
    server is stopping (a restart waits for no claim).
    """
    claimed = await poll(
        partial(_claim_once, request, credential, settings, session_id),
        lambda answer: answer is not None,
        wait_s=wait,
        interval_s=_POLL_S,
        max_interval_s=_MAX_POLL_S,
        hung_up=request.is_disconnected,
    )
    return claimed if claimed is not None else Response(status_code=204)
