"""Searches (PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELED; RESUMING after a crash or
on request, from RUNNING or FAILED) and their event streams.

A worker runs a search as numbered segments: ``progress["segment"]`` is the next segment to
run. A worker takes a segment with a compare-and-set claim that gives it an owner token
(``claim_token``); every later write of that worker (heartbeat, progress, result, failure) is
checked against the token, so a segment runs on at most one worker (design section 8.8). The
token is released between segments and cleared when the search is resumed or ends.
``updated_at`` is the worker's heartbeat, judged on the database clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
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
_CLAIMABLE = (SearchState.PENDING, SearchState.RUNNING, SearchState.RESUMING)


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
    estimator: str | None = None,
    device_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Search]:
    """Newest first, optionally one owner's, in one state, of one estimator, on one device."""
    stmt = select(Search).order_by(Search.created_at.desc(), Search.id.desc())
    if owner is not None:
        stmt = stmt.where(Search.owner_id == owner.id)
    if state is not None:
        stmt = stmt.where(Search.state == parse_enum(SearchState, state, "state"))
    if estimator is not None:
        stmt = stmt.where(Search.estimator == estimator)
    if device_id is not None:
        stmt = stmt.where(Search.device_id == device_id)
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
    if target is not SearchState.RUNNING:
        search.claim_token = None  # resumed or ended: the worker's claim is gone
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


def _on_postgres(session: Session) -> bool:
    """Whether row locks are needed: SQLite transactions hold the write lock from their start
    (``BEGIN IMMEDIATE``), PostgreSQL ones lock rows with ``FOR UPDATE``."""
    return session.get_bind().dialect.name == "postgresql"


def _locked_search(session: Session, *conditions: Any) -> Search | None:
    """The search matching ``conditions``, reloaded from the database and locked until the
    commit."""
    stmt = select(Search).where(*conditions).execution_options(populate_existing=True)
    if _on_postgres(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def _heartbeat_cutoff(now: datetime, stale_after_seconds: float) -> datetime:
    return now - timedelta(seconds=stale_after_seconds)


def has_live_claim(*, session: Session, search: Search, stale_after_seconds: float) -> bool:
    """Whether a worker holds the search's current segment and still beats."""
    cutoff = _heartbeat_cutoff(db_now(session), stale_after_seconds)
    return search.claim_token is not None and search.updated_at >= cutoff


def claim_segment(
    *, session: Session, search: Search, segment: int, stale_after_seconds: float
) -> str | None:
    """Take ``segment`` of a search for one worker: its new owner token, or None when it is
    not this segment's turn, the search has ended or is being canceled, or another worker
    holds a claim with a fresh heartbeat (a redelivered or duplicated message).

    One conditional UPDATE (compare-and-set): of two workers racing for the same segment
    exactly one matches the row, on PostgreSQL (the loser's UPDATE waits for the winner's row
    lock, then re-checks its condition on the new row) and on SQLite (writers are serial).
    """
    now = db_now(session)
    token = uuid.uuid4().hex
    next_segment = func.coalesce(Search.progress["segment"].as_integer(), 0)
    moved = session.execute(
        update(Search)
        .where(
            Search.id == search.id,
            Search.state.in_(_CLAIMABLE),
            Search.cancel_requested.is_(False),
            next_segment == segment,
            or_(
                Search.claim_token.is_(None),
                Search.updated_at < _heartbeat_cutoff(now, stale_after_seconds),
            ),
        )
        .values(
            state=SearchState.RUNNING,
            claim_token=token,
            updated_at=now,
            started_at=func.coalesce(Search.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(search)
    return token if moved.rowcount == 1 else None  # type: ignore[attr-defined]


def claimed_search(*, session: Session, search_id: str, claim_token: str) -> Search | None:
    """The running search while ``claim_token`` still owns it, locked for the rest of the
    transaction so the claim cannot change before the commit; None when the claim was lost
    (resumed, taken over, released or ended)."""
    return _locked_search(
        session,
        Search.id == search_id,
        Search.claim_token == claim_token,
        Search.state == SearchState.RUNNING,
    )


def touch_search(*, session: Session, search_id: str, claim_token: str) -> Search | None:
    """The owning worker's heartbeat: the search (its ``cancel_requested`` fresh), or None
    when the claim was lost and nothing was written."""
    search = claimed_search(session=session, search_id=search_id, claim_token=claim_token)
    if search is not None:
        search.updated_at = db_now(session)
        session.flush()
    return search


def release_claim(*, session: Session, search: Search) -> None:
    """The segment is committed: the next segment's message may be claimed by any worker."""
    search.claim_token = None
    session.flush()


def resume_search(*, session: Session, search: Search, stale_after_seconds: float) -> Search:
    """RUNNING or FAILED -> RESUMING: the next segment runs from the last checkpoint. A running
    search whose worker still beats (within ``stale_after_seconds`` on the database clock) is
    a ``Conflict``: resuming it would run its segment twice."""
    _locked_search(session, Search.id == search.id)
    if search.state is SearchState.RUNNING:
        silent = db_now(session) - search.updated_at
        if silent < timedelta(seconds=stale_after_seconds):
            raise Conflict(
                f"search {search.id} is running on a live worker (last heartbeat "
                f"{silent.total_seconds():.0f}s ago); only a failed search or one silent for "
                f"{stale_after_seconds:g}s can be resumed",
                code="search_running",
            )
    search.error = None
    search.cancel_requested = False
    return transition_search(session=session, search=search, state=SearchState.RESUMING)


def stale_searches(*, session: Session, stale_after_seconds: float) -> list[Search]:
    """RUNNING searches whose worker has been silent longer than ``stale_after_seconds``; on
    PostgreSQL locked (skipping rows a heartbeat is writing) until the caller commits."""
    cutoff = _heartbeat_cutoff(db_now(session), stale_after_seconds)
    stmt = select(Search).where(Search.state == SearchState.RUNNING, Search.updated_at < cutoff)
    if _on_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))
