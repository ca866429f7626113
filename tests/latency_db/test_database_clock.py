"""Every lease and liveness decision is taken on the database's clock, never this process's
(design sections 7 and 8).

Two API processes whose host clocks disagree must agree on every deadline. Here the host
clock of this process is moved by hours with time-machine, which patches Python's
``time.time()`` and ``datetime.now()`` but not the clock the database reads: PostgreSQL's
``now()`` runs in the server, and SQLite's ``'now'`` is read by its C library. A decision
that used the process clock therefore flips: a lease claimed by a host running behind looks
overdue to a host running ahead, and an overdue lease looks live to a host running behind.

On SQLite the database clock is the clock of the machine that holds the file, which is
the host clock of every process using it; these tests then show that the decisions go
through ``db_now`` (what keeps SQLite and PostgreSQL on one code path), not that an
embedded database could disagree with its host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from latency_db.db import db_now, session_scope
from latency_db.errors import StaleLeaseError
from latency_db.models import (
    Agent,
    AgentState,
    JobLease,
    JobState,
    LeaseState,
    Search,
    SearchState,
)
from latency_db.repositories import agents, leases, searches, users

from .conftest import Database, World, make_world, queue_job

SKEW = timedelta(hours=3)
# How far a reading of the database clock may be from another (the test's own run time).
CLOSE = timedelta(minutes=5)
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


def database_clock(session: Session) -> datetime:
    """The database server's clock read with SQL of its own, independently of ``db_now``."""
    if session.get_bind().dialect.name == "sqlite":
        days = session.execute(select(func.julianday("now"))).scalar_one()
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(
            days=days - _UNIX_EPOCH_JULIAN_DAY
        )
    value = session.execute(select(func.clock_timestamp())).scalar_one()
    return value.astimezone(timezone.utc)


@contextmanager
def host_clock(offset: timedelta) -> Iterator[None]:
    """This process's clock moved by ``offset`` (still ticking); the database's is not."""
    with time_machine.travel(datetime.now(timezone.utc) + offset, tick=True):
        yield


def _overdue(session: Session, lease: JobLease) -> None:
    """Set a lease's deadline ten minutes into the past of the database clock: well past
    the start of the open transaction (PostgreSQL's ``now()``, which a slow test leaves
    seconds behind the wall clock), and well within the hosts' skew of hours."""
    session.execute(
        update(JobLease)
        .where(JobLease.id == lease.id)
        .values(expires_at=database_clock(session) - timedelta(minutes=10))
    )
    session.expire_all()


@pytest.mark.parametrize("offset", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_db_now_reads_the_database_clock(session: Session, offset: timedelta) -> None:
    with host_clock(offset):
        host_ahead_by = datetime.now(timezone.utc) - database_clock(session)
        assert abs(host_ahead_by - offset) < CLOSE  # the skew this file relies on
        assert abs(db_now(session) - database_clock(session)) < CLOSE


@pytest.mark.parametrize("offset", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_an_agent_route_reads_the_clock_with_its_credential(
    db: Database, offset: timedelta
) -> None:
    """An agent route's first read (its credential) brings the database clock along: the
    route's ``db_now`` is then that reading, with no query of its own."""
    with session_scope(db.factory) as session:
        credential = make_world(session).credential
    statements: list[str] = []

    def kept(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", kept)
    try:
        with host_clock(offset), session_scope(db.factory) as session:
            assert agents.authenticate_agent(session=session, credential=credential)
            now = db_now(session)
            assert len(statements) == 1
            assert abs(now - database_clock(session)) < CLOSE
    finally:
        event.remove(db.engine, "before_cursor_execute", kept)


def test_a_lease_claimed_on_a_host_behind_is_live_on_a_host_ahead(
    session: Session, world: World
) -> None:
    job = queue_job(session, world, "op-a")
    with host_clock(-SKEW):
        claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    deadline = claim.lease.expires_at - database_clock(session)
    assert timedelta(0) < deadline <= timedelta(seconds=60) + CLOSE
    with host_clock(SKEW):
        assert leases.expire_leases(session=session) == []
        beat = agents.heartbeat(session=session, agent=world.agent, lease_tokens=[claim.token])
        assert beat.cancel == []
        renewed = leases.renew_lease(
            session=session, agent=world.agent, lease_token=claim.token, lease_seconds=60
        )
    assert renewed.expires_at - database_clock(session) <= timedelta(seconds=60) + CLOSE
    with host_clock(SKEW):
        assert leases.expire_leases(session=session) == []
        assert job.state is JobState.LEASED and claim.lease.state is LeaseState.LIVE
        leases.release_lease(session=session, agent=world.agent, lease_token=claim.token)
    assert job.state is JobState.QUEUED and claim.lease.state is LeaseState.RELEASED


def test_an_overdue_lease_is_refused_and_expired_on_a_host_behind(
    session: Session, world: World
) -> None:
    job = queue_job(session, world, "op-a")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    _overdue(session, claim.lease)
    with host_clock(-SKEW):
        beat = agents.heartbeat(session=session, agent=world.agent, lease_tokens=[claim.token])
        assert beat.cancel == [claim.token]
        with pytest.raises(StaleLeaseError, match="expired"):
            leases.renew_lease(
                session=session, agent=world.agent, lease_token=claim.token, lease_seconds=60
            )
        with pytest.raises(StaleLeaseError, match="expired"):
            leases.complete_lease(
                session=session,
                agent=world.agent,
                lease_token=claim.token,
                idempotency_key="late",
                times_ms=[1.0, 1.0, 1.0],
                environment={},
            )
        with pytest.raises(StaleLeaseError, match="expired"):
            leases.fail_lease(
                session=session, agent=world.agent, lease_token=claim.token, error_code="timeout"
            )
        with pytest.raises(StaleLeaseError, match="expired"):
            leases.release_lease(session=session, agent=world.agent, lease_token=claim.token)
        again = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert again is not None and again.job is job and again.lease.attempt == 2
    assert claim.lease.state is LeaseState.EXPIRED and job.error_code == leases.LEASE_EXPIRED


def _agent_state(session: Session, agent: Agent) -> AgentState:
    session.expire_all()
    return session.get_one(Agent, agent.id).state


def test_agent_liveness_is_judged_on_the_database_clock(session: Session, world: World) -> None:
    with host_clock(-SKEW):
        beat = agents.heartbeat(session=session, agent=world.agent)
    assert abs(beat.server_time - database_clock(session)) < CLOSE
    with host_clock(SKEW):
        moved = agents.mark_stale_and_offline(
            session=session, stale_after_seconds=30, offline_after_seconds=600
        )
    assert moved == {AgentState.OFFLINE: 0, AgentState.STALE: 0}
    assert _agent_state(session, world.agent) is AgentState.ONLINE

    session.execute(
        update(Agent)
        .where(Agent.id == world.agent.id)
        .values(last_heartbeat_at=database_clock(session) - timedelta(seconds=60))
    )
    with host_clock(-SKEW):
        agents.mark_stale_and_offline(
            session=session, stale_after_seconds=30, offline_after_seconds=600
        )
    assert _agent_state(session, world.agent) is AgentState.STALE


def test_search_staleness_is_judged_on_the_database_clock(session: Session, world: World) -> None:
    owner = users.create_user(session=session, name="owner")
    search = searches.create_search(
        session=session,
        owner=owner,
        device=world.device,
        runtime_config=world.runtime_config,
        space_ref="proxyless-r224-w1.0-c1000",
        config={},
        budget_ms=20.0,
        estimator="proxyless",
    )
    with host_clock(-SKEW):
        searches.transition_search(session=session, search=search, state=SearchState.RUNNING)
    with host_clock(SKEW):
        assert searches.stale_searches(session=session, stale_after_seconds=60) == []

    session.execute(
        update(Search)
        .where(Search.id == search.id)
        .values(updated_at=database_clock(session) - timedelta(seconds=120))
    )
    session.expire_all()
    with host_clock(-SKEW):
        assert searches.stale_searches(session=session, stale_after_seconds=60) == [search]
