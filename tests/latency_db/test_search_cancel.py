"""Cancel ends a search in any non-final state: at once when no worker holds it (pending,
resuming), by a flag for its worker when one runs it; never over a concurrent claim."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from latency_db.db import session_scope
from latency_db.errors import Conflict
from latency_db.models import Search, SearchState
from latency_db.repositories import searches, users

from ..databases import Database
from .conftest import World, make_world


def _search(session: Session, world: World) -> Search:
    return searches.create_search(
        session=session,
        owner=users.create_user(session=session, name="canceler"),
        device=world.device,
        runtime_config=world.runtime_config,
        space_ref="proxyless-r224-w1.0-c1000",
        config={},
        budget_ms=5.0,
        estimator="proxyless",
    )


def _to(session: Session, search: Search, *states: str) -> None:
    for state in states:
        searches.transition_search(session=session, search=search, state=state)


def test_a_resuming_search_is_canceled_at_once(session: Session, world: World) -> None:
    search = _search(session, world)
    _to(session, search, "running", "resuming")
    searches.request_search_cancel(session=session, search=search)
    assert search.state is SearchState.CANCELED
    assert search.finished_at is not None and search.cancel_requested


def test_a_running_search_is_flagged_and_a_finished_one_refuses(
    session: Session, world: World
) -> None:
    search = _search(session, world)
    _to(session, search, "running")
    searches.request_search_cancel(session=session, search=search)
    assert search.state is SearchState.RUNNING and search.cancel_requested
    _to(session, search, "succeeded")
    with pytest.raises(Conflict, match="already succeeded"):
        searches.request_search_cancel(session=session, search=search)


def test_cancel_does_not_overwrite_a_claim_it_has_not_seen(db: Database) -> None:
    """The canceling request read the search RESUMING; a worker claimed it before the cancel
    was written: the search stays RUNNING, flagged for that worker."""
    with session_scope(db.factory) as session:
        search_id = _search(session, make_world(session)).id
        _to(session, searches.get_search(session=session, search_id=search_id), "running")
        _to(session, searches.get_search(session=session, search_id=search_id), "resuming")
    with db.factory() as canceler:
        seen = searches.get_search(session=canceler, search_id=search_id)
        canceler.commit()  # the request's read is over; ``seen`` still says RESUMING
        assert seen.state is SearchState.RESUMING
        with session_scope(db.factory) as worker:
            _to(worker, searches.get_search(session=worker, search_id=search_id), "running")
        searches.request_search_cancel(session=canceler, search=seen)
        canceler.commit()
    with db.factory() as reader:
        stored = searches.get_search(session=reader, search_id=search_id)
        assert stored.state is SearchState.RUNNING and stored.cancel_requested
