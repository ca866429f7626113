"""Searches (PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELED; RESUMING after a crash or
on request, from RUNNING or FAILED) and their event streams.

A worker runs a search as numbered segments: ``progress["segment"]`` is the next segment to
run and ``progress["claimed"]`` the one a worker is running; ``updated_at`` is its heartbeat.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import Conflict, ValidationError
from latency_db.models import Device, RuntimeConfig, Search, SearchEvent, SearchState, User
from latency_db.repositories.common import (
    check_finite,
    check_json,
    check_name,
    get_or_not_found,
    parse_enum,
)

TERMINAL = frozenset({SearchState.SUCCEEDED, SearchState.FAILED, SearchState.CANCELED})
# States in which no worker holds the search: its next segment waits for a broker message.
UNCLAIMED = frozenset({SearchState.PENDING, SearchState.RESUMING})
_TRANSITIONS: dict[SearchState, frozenset[SearchState]] = {
    SearchState.PENDING: frozenset({SearchState.RUNNING, SearchState.FAILED, SearchState.CANCELED}),
    SearchState.RUNNING: TERMINAL | {SearchState.RESUMING},
    SearchState.RESUMING: frozenset(
        {SearchState.RUNNING, SearchState.FAILED, SearchState.CANCELED}
    ),
    SearchState.FAILED: frozenset({SearchState.RESUMING}),
}


def create_search(
    *,
    session: Session,
    owner: User,
    device: Device,
    runtime_config: RuntimeConfig,
    space_ref: str,
    config: dict[str, Any],
    budget_ms: float,
    estimator: str,
) -> Search:
    budget = check_finite(budget_ms, "budget_ms")
    if budget <= 0:
        raise ValidationError(f"budget_ms must be positive, not {budget}")
    check_json(config, "config")
    now = db_now(session)
    search = Search(
        owner_id=owner.id,
        device_id=device.id,
        runtime_config_id=runtime_config.id,
        space_ref=check_name(space_ref, "space_ref", 128),
        config=config,
        state=SearchState.PENDING,
        budget_ms=budget,
        estimator=check_name(estimator, "estimator", 32),
        progress={},
        cancel_requested=False,
        created_at=now,
        updated_at=now,
    )
    session.add(search)
    session.flush()
    return search


def get_search(*, session: Session, search_id: str) -> Search:
    return get_or_not_found(session, Search, search_id, "search")


def list_searches(
    *,
    session: Session,
    owner: User | None = None,
    state: SearchState | str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Search]:
    """Newest first, optionally one owner's and/or in one state."""
    stmt = select(Search).order_by(Search.created_at.desc(), Search.id.desc())
    if owner is not None:
        stmt = stmt.where(Search.owner_id == owner.id)
    if state is not None:
        stmt = stmt.where(Search.state == parse_enum(SearchState, state, "state"))
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def transition_search(
    *,
    session: Session,
    search: Search,
    state: SearchState | str,
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> Search:
    """Move a search along its state machine; an impossible move is a ``Conflict``."""
    target = parse_enum(SearchState, state, "state")
    if target not in _TRANSITIONS.get(search.state, frozenset()):
        raise Conflict(f"search {search.id} cannot go from {search.state.value} to {target.value}")
    if result is not None:
        check_json(result, "result")
        search.result = result
    now = db_now(session)
    search.state = target
    search.updated_at = now
    if error is not None:
        search.error = error
    if target is SearchState.RUNNING and search.started_at is None:
        search.started_at = now
    if target in TERMINAL:
        search.finished_at = now
    session.flush()
    return search


def request_search_cancel(*, session: Session, search: Search) -> Search:
    """Cancel a search no worker holds (PENDING or RESUMING) now; a RUNNING one is flagged
    for its worker to stop.

    The move to CANCELED is one conditional UPDATE, so a worker that claims the search at the
    same moment either finds it CANCELED or keeps it RUNNING with the flag: never both.
    """
    now = db_now(session)
    unclaimed = session.execute(
        update(Search)
        .where(Search.id == search.id, Search.state.in_(UNCLAIMED))
        .values(state=SearchState.CANCELED, cancel_requested=True, updated_at=now, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(search)
    if unclaimed.rowcount == 1 or search.state is SearchState.CANCELED:  # type: ignore[attr-defined]
        return search
    if search.state in TERMINAL:
        raise Conflict(f"search {search.id} already {search.state.value}")
    search.cancel_requested = True
    search.updated_at = now
    session.flush()
    return search


def update_search_progress(
    *,
    session: Session,
    search: Search,
    progress: dict[str, Any],
    checkpoint_path: str | None = None,
) -> Search:
    """Record the worker's progress (and where its latest checkpoint is)."""
    check_json(progress, "progress")
    search.progress = progress
    if checkpoint_path is not None:
        search.checkpoint_path = checkpoint_path
    search.updated_at = db_now(session)
    session.flush()
    return search


def add_search_event(
    *, session: Session, search: Search, step: int, kind: str, payload: dict[str, Any]
) -> SearchEvent:
    check_json(payload, "payload")
    event = SearchEvent(
        search_id=search.id,
        step=step,
        kind=check_name(kind, "kind", 32),
        payload=payload,
        created_at=db_now(session),
    )
    session.add(event)
    session.flush()
    return event


def list_search_events(
    *,
    session: Session,
    search: Search,
    after_id: str | None = None,
    offset: int = 0,
    limit: int = 1000,
) -> list[SearchEvent]:
    """Events in the order they were written; ``after_id`` or ``offset`` (events already
    read) continues a previous page."""
    stmt = select(SearchEvent).where(SearchEvent.search_id == search.id)
    if after_id is not None:
        stmt = stmt.where(SearchEvent.id > after_id)
    return list(session.scalars(stmt.order_by(SearchEvent.id).offset(offset).limit(limit)))


def touch_search(*, session: Session, search: Search) -> None:
    """The running worker's heartbeat."""
    search.updated_at = db_now(session)
    session.flush()


def claim_segment(
    *, session: Session, search: Search, segment: int, stale_after_seconds: float
) -> bool:
    """Take ``segment`` of a search for this worker; False when it is not this segment's
    turn, the search has ended, or another live worker is running it (a redelivered copy)."""
    if search.state in TERMINAL or search.progress.get("segment", 0) != segment:
        return False
    fresh = db_now(session) - search.updated_at < timedelta(seconds=stale_after_seconds)
    if search.state is SearchState.RUNNING and search.progress.get("claimed") == segment and fresh:
        return False
    if search.state is not SearchState.RUNNING:
        transition_search(session=session, search=search, state=SearchState.RUNNING)
    search.progress = {**search.progress, "claimed": segment}
    touch_search(session=session, search=search)
    return True


def resume_search(*, session: Session, search: Search) -> Search:
    """RUNNING or FAILED -> RESUMING: the next segment runs from the last checkpoint."""
    search.error = None
    search.cancel_requested = False
    return transition_search(session=session, search=search, state=SearchState.RESUMING)


def stale_searches(*, session: Session, stale_after_seconds: float) -> list[Search]:
    """RUNNING searches whose worker has been silent longer than ``stale_after_seconds``."""
    cutoff = db_now(session) - timedelta(seconds=stale_after_seconds)
    stmt = select(Search).where(Search.state == SearchState.RUNNING, Search.updated_at < cutoff)
    return list(session.scalars(stmt))
