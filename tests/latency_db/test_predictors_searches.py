"""Predictor versions, the search state machine and search events."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from latency_db.errors import Conflict, ValidationError
from latency_db.models import Search, SearchState, User
from latency_db.repositories import predictors, searches, users

from .conftest import World

SPACE = "proxyless-r224-w1.0-c1000"


def _fit(session: Session, world: World, kind: str, rmse: float) -> object:
    return predictors.create_predictor(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        space_ref=SPACE,
        kind=kind,
        params={"bias": 1.0},
        metrics={"rmse_ms": rmse},
        training_measurement_ids=["m1", "m2"],
        seed=0,
        holdout_fraction=0.2,
    )


def test_predictor_versions_count_up_per_group(session: Session, world: World) -> None:
    v1 = _fit(session, world, "linear", 2.0)
    v2 = _fit(session, world, "linear", 1.0)
    mlp = _fit(session, world, "mlp", 1.5)
    assert [p.version for p in (v1, v2, mlp)] == [1, 2, 1]  # type: ignore[attr-defined]
    latest = predictors.latest_predictor(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        space_ref=SPACE,
        kind="linear",
    )
    assert latest is v2
    assert predictors.get_predictor(session=session, predictor_id=mlp.id) is mlp  # type: ignore[attr-defined]
    listed = predictors.list_predictors(session=session, device=world.device, kind="linear")
    assert [p.version for p in listed] == [2, 1]
    with pytest.raises(ValidationError, match="holdout_fraction"):
        predictors.create_predictor(
            session=session,
            device=world.device,
            runtime_config=world.runtime_config,
            space_ref=SPACE,
            kind="lut",
            params={},
            metrics={},
            training_measurement_ids=[],
            seed=0,
            holdout_fraction=1.0,
        )


def _search(
    session: Session,
    world: World,
    owner: User,
    estimator: str,
    budget_ms: float,
    config: dict[str, Any] | None = None,
) -> Search:
    """A search of the world's device on ``SPACE``, as the repository stores it."""
    return searches.create_search(
        session=session,
        owner=owner,
        device=world.device,
        runtime_config=world.runtime_config,
        space_ref=SPACE,
        config=config or {},
        budget_ms=budget_ms,
        estimator=estimator,
    )


def test_search_lifecycle_and_events(session: Session, world: World) -> None:
    owner = users.create_user(session=session, name="owner")
    search = _search(session, world, owner, "proxyless", 20.0, config={"epochs": 1})
    assert search.state is SearchState.PENDING and search.started_at is None
    with pytest.raises(Conflict, match="pending to succeeded"):
        searches.transition_search(session=session, search=search, state="succeeded")
    searches.transition_search(session=session, search=search, state="running")
    assert search.started_at is not None
    searches.update_search_progress(
        session=session, search=search, progress={"step": 10}, checkpoint_path="/ckpt/10.pt"
    )
    for step in (1, 2, 3):
        searches.add_search_event(
            session=session, search=search, step=step, kind="metrics", payload={"loss": 1 / step}
        )
    events = searches.list_search_events(session=session, search=search)
    assert [e.step for e in events] == [1, 2, 3]
    assert [
        e.step
        for e in searches.list_search_events(session=session, search=search, after_id=events[0].id)
    ] == [2, 3]
    searches.transition_search(session=session, search=search, state="resuming")
    searches.transition_search(session=session, search=search, state="running")
    searches.request_search_cancel(session=session, search=search)
    assert search.cancel_requested and search.state is SearchState.RUNNING
    searches.transition_search(session=session, search=search, state="canceled")
    assert search.finished_at is not None
    assert searches.list_searches(session=session, owner=owner, state="canceled") == [search]


def test_bad_searches_are_refused(session: Session, world: World) -> None:
    owner = users.create_user(session=session, name="owner")
    for budget in (0.0, -5.0, float("nan")):
        with pytest.raises(ValidationError, match="budget_ms"):
            _search(session, world, owner, "darts", budget)
    pending = _search(session, world, owner, "darts", 5.0)
    assert searches.request_search_cancel(session=session, search=pending).state is (
        SearchState.CANCELED
    )
    assert searches.list_searches(session=session) == [pending]
