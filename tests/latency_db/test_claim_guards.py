"""Each guard of ``claim_job`` has a test that fails without it (design section 8, promise 2).

- PostgreSQL picks the next job ``FOR UPDATE SKIP LOCKED``: a claim does not wait for a job
  another uncommitted claim holds, it takes the next one.
- The pick reads QUEUED jobs only, whatever comes first in priority order.
- The move is a conditional ``UPDATE ... WHERE state = 'queued'``: a pick that went stale (the
  job was leased or canceled after it was read) moves nothing and the claim picks again.
  Both backends fence the pick (a row lock; SQLite's write lock), so a stale pick cannot be
  produced by a real race; the test injects one.
- SQLite serializes claims: every transaction begins with ``BEGIN IMMEDIATE``, so a second
  claim waits for the write lock before it reads anything, instead of reading the queue
  while the first claim is uncommitted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from latency_db.db import session_scope
from latency_db.models import Agent, JobLease, JobState, LeaseState
from latency_db.repositories import enrollment, jobs, leases

from .conftest import Database, World, make_world, queue_job


def _second_agent(session: Session, world: World) -> Agent:
    token = enrollment.issue_enrollment_token(session=session, device=world.device)[1]
    agent, _ = enrollment.enroll_agent(session=session, token=token, name="b", backend="ort-cpu")
    return agent


def _claim(session: Session, agent_id: str) -> str | None:
    claim = leases.claim_job(
        session=session, agent=session.get_one(Agent, agent_id), lease_seconds=60
    )
    return None if claim is None else claim.job.id


def _live_leases(session: Session) -> dict[str, int]:
    """Live leases per job id."""
    rows = session.execute(
        select(JobLease.job_id, func.count())
        .where(JobLease.state == LeaseState.LIVE)
        .group_by(JobLease.job_id)
    ).all()
    return {job_id: count for job_id, count in rows}


def _two_agents_two_jobs(database: Database) -> tuple[str, str, str, str]:
    """Committed: agents ``a`` and ``b`` of one device and queued jobs ``first`` (higher
    priority) and ``second``; their ids."""
    with session_scope(database.factory) as s:
        world = make_world(s)
        b = _second_agent(s, world)
        first = queue_job(s, world, "op-first", priority=1)
        second = queue_job(s, world, "op-second")
        return world.agent.id, b.id, first.id, second.id


@pytest.fixture
def postgres(postgres_db: Database) -> Iterator[Database]:
    yield postgres_db
    postgres_db.wipe()


@pytest.fixture
def sqlite(sqlite_db: Database) -> Iterator[Database]:
    yield sqlite_db
    sqlite_db.wipe()


@pytest.mark.postgres
def test_postgres_a_claim_skips_a_job_an_open_claim_holds(postgres: Database) -> None:
    a, b, first, second = _two_agents_two_jobs(postgres)
    with postgres.factory() as holder, postgres.factory() as other:
        assert _claim(holder, a) == first  # uncommitted: the row stays locked
        # Without SKIP LOCKED the pick would wait for the holder; a lock timeout bounds it.
        other.execute(text("SET LOCAL lock_timeout = '2s'"))
        assert _claim(other, b) == second
        other.commit()
        holder.commit()
    with session_scope(postgres.factory) as s:
        assert _live_leases(s) == {first: 1, second: 1}


@pytest.mark.parametrize("state", ["leased", "succeeded", "failed", "canceled"])
def test_a_claim_takes_only_queued_jobs_whatever_comes_first(
    session: Session, world: World, state: str
) -> None:
    queued = queue_job(session, world, "op-queued")
    ahead = queue_job(session, world, "op-ahead", priority=9)
    if state == "leased":
        assert _claim(session, world.agent.id) == ahead.id
    else:
        ahead.state = JobState(state)
        session.flush()
    assert _claim(session, world.agent.id) == queued.id
    assert _claim(session, world.agent.id) is None
    session.expire_all()
    assert ahead.state is JobState(state)
    assert _live_leases(session) == {queued.id: 1} | ({ahead.id: 1} if state == "leased" else {})


@pytest.mark.parametrize("meanwhile", ["leased", "canceled"])
def test_a_stale_pick_moves_nothing_and_the_claim_picks_again(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    first = queue_job(session, world, "op-first", priority=1)
    second = queue_job(session, world, "op-second")
    if meanwhile == "leased":
        assert _claim(session, world.agent.id) == first.id
    else:
        jobs.cancel_job(session=session, job=first)
    pick = leases._next_queued
    picks: list[str | None] = []

    def stale_then_fresh(s: Session, agent: Agent) -> tuple[str, str] | None:
        """The first pick answers ``first``, as a read taken before it was leased or
        canceled would; later picks read the queue."""
        row = (first.id, first.runtime_config_id) if not picks else pick(s, agent)
        picks.append(None if row is None else row[0])
        return row

    monkeypatch.setattr(leases, "_next_queued", stale_then_fresh)
    other = _second_agent(session, world)
    assert _claim(session, other.id) == second.id
    assert picks == [first.id, second.id]
    session.expire_all()
    assert first.state is JobState(meanwhile)
    expected = {second.id: 1} | ({first.id: 1} if meanwhile == "leased" else {})
    assert _live_leases(session) == expected


def test_sqlite_a_claim_waits_for_an_open_claim_instead_of_reading_the_queue(
    sqlite: Database,
) -> None:
    a, b, first, second = _two_agents_two_jobs(sqlite)
    waiter_read = threading.Event()

    def note_reads(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread().name.startswith("waiter") and statement.startswith("SELECT"):
            waiter_read.set()

    def claim_in_own_transaction() -> str | None:
        with session_scope(sqlite.factory) as s:
            return _claim(s, b)

    event.listen(sqlite.engine, "before_cursor_execute", note_reads)
    try:
        with sqlite.factory() as holder:
            assert _claim(holder, a) == first  # uncommitted: holds SQLite's write lock
            with ThreadPoolExecutor(1, thread_name_prefix="waiter") as pool:
                waiter = pool.submit(claim_in_own_transaction)
                # A waiter that read now would read the queue as it was before the claim.
                read_while_open = waiter_read.wait(timeout=0.5)
                holder.commit()
                error = waiter.exception(timeout=60)
    finally:
        event.remove(sqlite.engine, "before_cursor_execute", note_reads)
    assert not read_while_open, "the second claim read while the first was uncommitted"
    assert error is None, repr(error)
    assert waiter.result() == second
    with session_scope(sqlite.factory) as s:
        assert _live_leases(s) == {first: 1, second: 1}
