"""Agents: authentication, heartbeats on the database clock, ONLINE -> STALE -> OFFLINE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from latency_db.db import clock_column, db_now, remember_clock
from latency_db.errors import ValidationError
from latency_db.models import Agent, AgentState, Device, DeviceState, JobLease, LeaseState
from latency_db.repositories.common import (
    check_json,
    check_positive_int,
    get_or_not_found,
    parse_enum,
)
from latency_db.security import AGENT_CREDENTIAL, generate_token, hash_token

# States an agent leaves by heartbeating; an admin's DRAINING/DISABLED stay as they are.
_LIVENESS_STATES = (AgentState.ONLINE, AgentState.STALE, AgentState.OFFLINE)
_ADMIN_STATES = (AgentState.ONLINE, AgentState.DRAINING, AgentState.DISABLED)


@dataclass(frozen=True)
class Heartbeat:
    """What the agent learns from a heartbeat: the server's clock, and which of the lease
    tokens it named it must stop working on (job canceled, or lease no longer its own)."""

    server_time: datetime
    cancel: list[str]


def authenticate_agent(*, session: Session, credential: str) -> Agent | None:
    """The agent holding ``credential`` with its device, and the transaction's database
    clock (one read); None if unknown, or if the agent or its device is disabled."""
    row = session.execute(
        select(Agent, clock_column(session))
        .where(Agent.credential_hash == hash_token(credential))
        .options(joinedload(Agent.device, innerjoin=True))
    ).first()
    if row is None:
        return None
    agent, clock = row
    remember_clock(session, clock)  # the route's db_now, read on the way
    if agent.state is AgentState.DISABLED:
        return None
    if agent.device.state is DeviceState.DISABLED:
        return None
    return agent


def rotate_credential(*, session: Session, agent: Agent) -> str:
    """A new credential for ``agent`` (plaintext once); the old one stops working at once."""
    credential = generate_token(AGENT_CREDENTIAL)
    agent.credential_hash = hash_token(credential)
    session.flush()
    return credential


def get_agent(*, session: Session, agent_id: str) -> Agent:
    return get_or_not_found(session, Agent, agent_id, "agent")


def list_agents(*, session: Session, device: Device | None = None) -> list[Agent]:
    stmt = select(Agent).order_by(Agent.id)
    if device is not None:
        stmt = stmt.where(Agent.device_id == device.id)
    return list(session.scalars(stmt))


def set_agent_state(*, session: Session, agent: Agent, state: AgentState | str) -> Agent:
    """An admin drains, disables or re-enables (ONLINE) an agent."""
    target = parse_enum(AgentState, state, "state")
    if target not in _ADMIN_STATES:
        allowed = ", ".join(s.value for s in _ADMIN_STATES)
        raise ValidationError(f"an agent's state can be set to {allowed}, not {target.value!r}")
    agent.state = target
    session.flush()
    return agent


def heartbeat(
    *,
    session: Session,
    agent: Agent,
    lease_tokens: Sequence[str] = (),
    environment: dict[str, Any] | None = None,
) -> Heartbeat:
    """Record a heartbeat at the database's time and answer which leases to abandon."""
    now = db_now(session)
    agent.last_heartbeat_at = now
    if agent.state in _LIVENESS_STATES:
        agent.state = AgentState.ONLINE
    if environment is not None:
        check_json(environment, "environment")
        agent.environment = dict(environment)
    cancel: list[str] = []
    if lease_tokens:
        leases = {
            lease.token_hash: lease
            for lease in session.scalars(
                select(JobLease).where(
                    JobLease.token_hash.in_([hash_token(t) for t in lease_tokens])
                )
            )
        }
        for token in lease_tokens:
            lease = leases.get(hash_token(token))
            keep = (
                lease is not None
                and lease.agent_id == agent.id
                and lease.state is LeaseState.LIVE
                and lease.expires_at > now
                and not lease.job.cancel_requested
            )
            if not keep:
                cancel.append(token)
    session.flush()
    return Heartbeat(server_time=now, cancel=cancel)


def mark_stale_and_offline(
    *, session: Session, stale_after_seconds: int, offline_after_seconds: int
) -> dict[AgentState, int]:
    """Move silent agents ONLINE -> STALE -> OFFLINE on the database clock; counts moved."""
    check_positive_int(stale_after_seconds, "stale_after_seconds")
    check_positive_int(offline_after_seconds, "offline_after_seconds")
    now = db_now(session)
    last_seen = func.coalesce(Agent.last_heartbeat_at, Agent.enrolled_at)
    moved: dict[AgentState, int] = {}
    for target, sources, seconds in (
        (AgentState.OFFLINE, (AgentState.ONLINE, AgentState.STALE), offline_after_seconds),
        (AgentState.STALE, (AgentState.ONLINE,), stale_after_seconds),
    ):
        cutoff = now - timedelta(seconds=seconds)
        result = session.execute(
            update(Agent)
            .where(Agent.state.in_(sources), last_seen < cutoff)
            .values(state=target)
            .execution_options(synchronize_session="fetch")
        )
        moved[target] = result.rowcount  # type: ignore[attr-defined]
    return moved
