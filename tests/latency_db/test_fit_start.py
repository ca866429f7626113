"""A re-sent fit task is harmless: a duplicate starting the same fit while the first one runs
waits on the row and then finds it finished (PostgreSQL, where transactions overlap; SQLite
runs write transactions one at a time, ``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from latency_db.db import session_scope
from latency_db.repositories import predictors

from ..databases import Database
from ..threads import ReportingThread
from .conftest import make_world

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres(postgres_db: Database) -> Iterator[Database]:
    try:
        yield postgres_db
    finally:
        postgres_db.wipe()


def _waiting_on_a_lock(db: Database) -> bool:
    with db.engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE predictor_fits%'"
            )
        ).scalar_one()
    return bool(waiting)


def test_a_duplicate_task_does_not_start_a_fit_that_finishes_meanwhile(
    postgres: Database,
) -> None:
    with session_scope(postgres.factory) as session:
        world = make_world(session)
        fit_id = predictors.create_fit(
            session=session,
            device=world.device,
            runtime_config=world.runtime_config,
            space_ref="proxyless-r224-w1.0-c1000",
            batch_size=32,
            kind="lut",
            seed=0,
            holdout_fraction=0.2,
        ).id
    started: list[bool] = []

    def duplicate() -> None:
        with postgres.factory() as session:
            fit = predictors.get_fit(session=session, fit_id=fit_id)
            started.append(predictors.start_fit(session=session, fit=fit))
            session.rollback()

    with postgres.factory() as first:
        fit = predictors.get_fit(session=first, fit_id=fit_id)
        assert predictors.start_fit(session=first, fit=fit)
        racer = ReportingThread(duplicate)
        racer.start()
        deadline = time.monotonic() + 20
        while not _waiting_on_a_lock(postgres):
            assert time.monotonic() < deadline and racer.is_alive(), "the duplicate never waited"
            time.sleep(0.05)
        predictors.finish_fit(session=first, fit=fit, error_message="no data")
        first.commit()
    racer.join(timeout=20)
    assert started == [False]
