"""Search segment claims (design section 8.8): a compare-and-set claim gives one owner token,
writes under a lost token change nothing, and only a failed or silent search resumes; on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy.orm import Session

from latency_db.db import session_scope
from latency_db.errors import Conflict
from latency_db.models import Search, SearchState
from latency_db.repositories import searches, users

from ..databases import Database
from .conftest import World, make_world
from .test_predictors_searches import _search

STALE_S = 60
RACERS = 4


def _new_search(session: Session, world: World) -> Search:
    return _search(session, world, users.create_user(session=session, name="claims"), "unas", 5.0)


def _claim(session: Session, search: Search, segment: int = 0) -> str | None:
    return searches.claim_segment(
        session=session, search=search, segment=segment, stale_after_seconds=STALE_S
    )


def _silence(session: Session, search: Search) -> None:
    """Its worker stopped beating five minutes ago."""
    search.updated_at -= timedelta(minutes=5)
    session.flush()


def test_racing_claims_of_one_segment_give_one_owner(db: Database) -> None:
    with session_scope(db.factory) as session:
        search = _new_search(session, make_world(session))
        searches.transition_search(session=session, search=search, state="running")
        searches.transition_search(session=session, search=search, state="resuming")
        search_id = search.id
    start = threading.Barrier(RACERS)
    tokens: list[str | None] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            start.wait(timeout=30)
            with session_scope(db.factory) as session:
                row = searches.get_search(session=session, search_id=search_id)
                tokens.append(_claim(session, row))
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    racers = [threading.Thread(target=race) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    assert errors == [] and len(tokens) == RACERS
    winners = [t for t in tokens if t is not None]
    assert len(winners) == 1, tokens
    with session_scope(db.factory) as session:
        row = searches.get_search(session=session, search_id=search_id)
        assert row.state is SearchState.RUNNING and row.claim_token == winners[0]


def test_a_claim_holds_until_released_or_silent(session: Session, world: World) -> None:
    search = _new_search(session, world)
    first = _claim(session, search)
    assert first and search.state is SearchState.RUNNING and search.started_at is not None
    assert _claim(session, search) is None  # a redelivered copy while its worker beats
    assert _claim(session, search, segment=3) is None  # not this segment's turn
    searches.update_search_progress(session=session, search=search, progress={"segment": 1})
    assert _claim(session, search, segment=1) is None  # segment 0's worker still holds it
    searches.release_claim(session=session, search=search)
    assert _claim(session, search) is None  # segment 0 is done
    second = _claim(session, search, segment=1)
    assert second and second != first
    _silence(session, search)
    third = _claim(session, search, segment=1)  # a silent worker's claim is taken over
    assert third and third not in (first, second) and search.claim_token == third
    searches.request_search_cancel(session=session, search=search)
    searches.release_claim(session=session, search=search)
    assert _claim(session, search, segment=1) is None  # canceled: nothing more runs


def test_writes_under_a_lost_claim_change_nothing(session: Session, world: World) -> None:
    search = _new_search(session, world)
    lost = _claim(session, search)
    assert lost
    _silence(session, search)
    searches.resume_search(session=session, search=search, stale_after_seconds=STALE_S)
    assert search.state is SearchState.RESUMING and search.claim_token is None
    assert searches.touch_search(session=session, search_id=search.id, claim_token=lost) is None
    owner = _claim(session, search)
    assert owner
    beat_at = search.updated_at
    assert searches.claimed_search(session=session, search_id=search.id, claim_token=lost) is None
    assert searches.touch_search(session=session, search_id=search.id, claim_token=lost) is None
    session.refresh(search)
    assert search.updated_at == beat_at and search.claim_token == owner
    touched = searches.touch_search(session=session, search_id=search.id, claim_token=owner)
    assert touched is search and search.updated_at >= beat_at
    searches.transition_search(session=session, search=search, state="succeeded")
    assert search.claim_token is None
    assert searches.claimed_search(session=session, search_id=search.id, claim_token=owner) is None


def test_only_a_failed_or_silent_search_resumes(session: Session, world: World) -> None:
    search = _new_search(session, world)
    assert _claim(session, search)
    # the heartbeat is judged on the database clock: a process clock a day ahead changes nothing
    with time_machine.travel(timedelta(days=1), tick=True):
        with pytest.raises(Conflict, match="running on a live worker") as refused:
            searches.resume_search(session=session, search=search, stale_after_seconds=STALE_S)
        assert searches.stale_searches(session=session, stale_after_seconds=STALE_S) == []
    assert refused.value.code == "search_running"
    assert search.state is SearchState.RUNNING and search.claim_token is not None
    _silence(session, search)
    assert searches.stale_searches(session=session, stale_after_seconds=STALE_S) == [search]
    searches.resume_search(session=session, search=search, stale_after_seconds=STALE_S)
    assert search.state is SearchState.RESUMING
    assert _claim(session, search)
    searches.transition_search(session=session, search=search, state="failed", error="boom")
    searches.resume_search(session=session, search=search, stale_after_seconds=STALE_S)
    assert search.state is SearchState.RESUMING and search.error is None
    assert _claim(session, search)
    searches.transition_search(session=session, search=search, state="succeeded")
    with pytest.raises(Conflict):
        searches.resume_search(session=session, search=search, stale_after_seconds=STALE_S)
    assert _claim(session, search) is None


def test_an_owner_check_holds_until_the_owners_commit(db: Database) -> None:
    """A resume racing with the owner's segment commit waits for it (row lock on PostgreSQL,
    the write lock on SQLite), then sees the fresh heartbeat and refuses."""
    with session_scope(db.factory) as session:
        search = _new_search(session, make_world(session))
        token = _claim(session, search)
        assert token
        _silence(session, search)
        search_id = search.id
    outcome: list[object] = []

    def resume() -> None:
        try:
            with session_scope(db.factory) as session:
                row = searches.get_search(session=session, search_id=search_id)
                searches.resume_search(session=session, search=row, stale_after_seconds=STALE_S)
            outcome.append("resumed")
        except BaseException as err:  # reported by the main thread
            outcome.append(err)

    with session_scope(db.factory) as owner:
        search = searches.claimed_search(session=owner, search_id=search_id, claim_token=token)
        assert search is not None
        racer = threading.Thread(target=resume)
        racer.start()
        racer.join(timeout=1.0)  # it waits for the owner's transaction
        searches.update_search_progress(session=owner, search=search, progress={"segment": 1})
    racer.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    with session_scope(db.factory) as session:
        row = searches.get_search(session=session, search_id=search_id)
        assert row.state is SearchState.RUNNING and row.claim_token == token
