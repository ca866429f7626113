"""Two real Celery workers on PostgreSQL and Redis race for the same resuming segment: one
claims it, the other's copy does nothing, and every step of the search is recorded once."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.models import SearchState
from latency_db.repositories import searches as search_repo
from latency_db.settings import Settings
from services import processes
from services.task_queue import TaskQueue

from ..search_worker.stored_searches import TINY_SPEC, create_search
from .conftest import REDIS_URL, Stack

WORKERS = ("worker-a", "worker-b")
STEPS = 4  # two segments of TINY_SPEC's two steps


def resuming_search(factory: sessionmaker[Session]) -> str:
    """A search whose first worker died in segment 0 and that the sweeper marked RESUMING."""
    search_id = create_search(factory, steps=STEPS)
    with session_scope(factory) as session:
        search = search_repo.get_search(session=session, search_id=search_id)
        assert search_repo.claim_segment(
            session=session, search=search, segment=0, stale_after_seconds=60
        )
        search.updated_at -= timedelta(minutes=5)
        search_repo.resume_search(session=session, search=search, stale_after_seconds=60)
    return search_id


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_workers_racing_for_a_resuming_segment_run_it_once(
    stack: Stack, database_url: str
) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        search_id = resuming_search(factory)
        workers = [stack.start_worker(name) for name in WORKERS]
        for worker in workers:
            processes.wait_until(
                lambda w=worker: " ready." in w.log_path.read_text(),  # type: ignore[misc]
                child=worker,
                timeout_s=120,
                what=f"{worker.name} ready",
            )
        queue = TaskQueue(Settings(data_dir=stack.data_dir, broker_url=REDIS_URL))
        with session_scope(factory) as session:
            resuming = search_repo.get_search(session=session, search_id=search_id)
            for _ in WORKERS:  # the sweeper's message and a redelivered copy, one per worker
                assert queue.dispatch([resuming])
        deadline = time.monotonic() + 180
        while True:
            with session_scope(factory) as session:
                search = search_repo.get_search(session=session, search_id=search_id)
                events = search_repo.list_search_events(session=session, search=search)
                steps = [e.step for e in events if e.kind == "step"]
            if search.state is not SearchState.RUNNING and search.state is not (
                SearchState.RESUMING
            ):
                break
            assert time.monotonic() < deadline, search.progress
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert search.state is SearchState.SUCCEEDED, search.error
    assert steps == list(range(STEPS)), "every step recorded exactly once"
    # The resuming search's next segment is sent three times: by the API's reconciler and
    # twice by this test. Each copy names the segment that was next when it was sent (0, or
    # 1 when the reconciler's copy had already run segment 0), so at least one copy is a
    # duplicate and is refused; it may be taken after the search ended (a worker runs its
    # messages one at a time), so the refusal is awaited.
    refused = re.compile(rf"search {search_id} segment \d+: not this worker's to run")
    deadline = time.monotonic() + 60
    while not any(refused.search(w.log_path.read_text()) for w in workers):
        assert time.monotonic() < deadline, "no duplicate copy of a segment was refused"
        time.sleep(0.5)
    logs = {w.name: w.log_path.read_text() for w in workers}
    claims = Counter(
        line.split(" segment ")[1].split(":")[0]
        for text in logs.values()
        for line in text.splitlines()
        if f"search {search_id} segment " in line and line.endswith(": claimed")
    )
    segments = STEPS // TINY_SPEC["segment_steps"]
    assert claims == {str(n): 1 for n in range(segments)}, logs
