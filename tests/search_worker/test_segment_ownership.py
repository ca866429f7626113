"""The segment task on a real database (SQLite and PostgreSQL), in this process: its
heartbeat thread keeps a slow build and slow steps alive past the stale window (the sweeper
leaves it alone), a cancel ends a search within a few steps of a huge segment with its
checkpoint kept, a worker asked to stop commits its segment within a step and sends the rest
on, and a worker that lost its claim stops without writing anything.

Slow builds and steps come from a test hook around the real ``build_run`` and ``step``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.signals import worker_shutting_down
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from latency_db import migrate
from latency_db.artifact_store import ArtifactStore
from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.models import Search, SearchState
from latency_db.repositories import searches as search_repo
from latency_db.settings import Settings
from profiler_agent.host_lock import HostLock
from search_worker.context import WorkerContext
from search_worker.search.checkpoints import CheckpointStore
from search_worker.search.run import SearchRun
from search_worker.tasks import search_tasks, worker_stop
from services.maintenance import resume_stale_searches

from ..databases import Database
from .stored_searches import create_search

STALE_S = 2  # the heartbeat beats every STALE_S / 4 seconds


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "postgres":
        database: Database = request.getfixturevalue("postgres_db")
        try:
            yield database.factory
        finally:
            database.wipe()
        return
    url = make_url(f"sqlite:///{tmp_path / 'hwnas.sqlite3'}")
    migrate.upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def worker(factory: sessionmaker[Session], tmp_path: Path, stale_s: int = STALE_S) -> WorkerContext:
    settings = Settings(data_dir=tmp_path / "worker", search_stale_seconds=stale_s)
    return WorkerContext(
        settings, factory, ArtifactStore(settings.artifact_dir), HostLock(tmp_path / "lock")
    )


@dataclass
class Segment:
    """``run_segment`` on a thread; what it enqueued and raised, and the steps it ran."""

    context: WorkerContext
    search_id: str
    number: int = 0
    steps_run: list[int] = field(default_factory=list)
    enqueued: list[tuple[str, int]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def start(self) -> threading.Thread:
        def target() -> None:
            try:
                search_tasks.run_segment(
                    self.context,
                    self.search_id,
                    self.number,
                    lambda *a: self.enqueued.append(a),
                )
            except BaseException as err:  # reported by the main thread
                self.errors.append(err)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    def wait_steps(self, n: int, thread: threading.Thread, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.steps_run) < n:
            assert thread.is_alive() and time.monotonic() < deadline, (self.steps_run, self.errors)
            time.sleep(0.05)


@pytest.fixture
def slow_run(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Segment]:
    """Segment ``number`` of a search, whose build sleeps ``build_s`` and whose steps sleep
    ``step_s`` each."""

    def make(
        context: WorkerContext, search_id: str, build_s: float, step_s: float, number: int = 0
    ) -> Segment:
        segment = Segment(context, search_id, number)
        real_build = search_tasks.build_run

        def slow_build(*args: Any) -> SearchRun:
            time.sleep(build_s)
            run = real_build(*args)
            real_step = run.step

            def slow_step() -> dict[str, float]:
                time.sleep(step_s)
                metrics = real_step()
                segment.steps_run.append(run.step_index)
                return metrics

            run.step = slow_step  # type: ignore[method-assign]
            return run

        monkeypatch.setattr(search_tasks, "build_run", slow_build)
        return segment

    return make


def stored(factory: sessionmaker[Session], search_id: str) -> tuple[Search, list[float]]:
    """The search row and the steps of its events."""
    with session_scope(factory) as session:
        search = search_repo.get_search(session=session, search_id=search_id)
        steps = [e.step for e in search_repo.list_search_events(session=session, search=search)]
        return search, steps


def test_heartbeat_keeps_a_slow_build_and_a_slow_step_alive(
    factory: sessionmaker[Session], tmp_path: Path, slow_run: Callable[..., Segment]
) -> None:
    context = worker(factory, tmp_path)
    search_id = create_search(factory, steps=2, segment_steps=1)
    segment = slow_run(context, search_id, build_s=STALE_S + 0.5, step_s=STALE_S + 0.5)
    thread = segment.start()
    beats: set[datetime] = set()
    resumed: list[str] = []
    while thread.is_alive():  # the API's sweeper, on the database clock
        with session_scope(factory) as session:
            resumed += resume_stale_searches(session, context.settings)
            beats.add(search_repo.get_search(session=session, search_id=search_id).updated_at)
        time.sleep(0.2)
    thread.join()
    assert segment.errors == [] and resumed == []
    search, steps = stored(factory, search_id)
    assert search.state is SearchState.RUNNING and search.claim_token is None  # released
    assert search.progress["segment"] == 1 and steps == [0]
    assert search.progress["worker_device"] == "cpu"
    assert segment.enqueued == [(search_id, 1)]
    # over 2 * STALE_S seconds of building and stepping at 4 beats per STALE_S
    assert len(beats) >= 6, sorted(beats)
    assert not [t for t in threading.enumerate() if t.name == f"heartbeat-{search_id}"]


def test_cancel_ends_a_huge_segment_within_a_few_steps(
    factory: sessionmaker[Session], tmp_path: Path, slow_run: Callable[..., Segment]
) -> None:
    context = worker(factory, tmp_path)
    search_id = create_search(factory, steps=100_000, segment_steps=100_000)
    segment = slow_run(context, search_id, build_s=0, step_s=1.0)
    thread = segment.start()
    segment.wait_steps(2, thread)
    with session_scope(factory) as session:
        search = search_repo.get_search(session=session, search_id=search_id)
        search_repo.request_search_cancel(session=session, search=search)
    steps_at_cancel = len(segment.steps_run)
    thread.join(timeout=60)
    assert not thread.is_alive() and segment.errors == []
    search, _ = stored(factory, search_id)
    assert search.state is SearchState.CANCELED and segment.enqueued == []
    assert steps_at_cancel <= search.progress["step"] <= steps_at_cancel + 2
    assert search.checkpoint_path is not None
    assert CheckpointStore.load(Path(search.checkpoint_path))["step"] == search.progress["step"]


@pytest.fixture
def ask_stop() -> Iterator[Callable[[], None]]:
    """Celery's warm-shutdown signal, sent as its SIGTERM handler sends it; forgotten after."""

    def ask() -> None:
        worker_shutting_down.send(sender="worker@test", sig="SIGTERM", how="Warm", exitcode=0)

    try:
        yield ask
    finally:
        worker_stop.STOP_ASKED.clear()


def test_a_stopping_worker_commits_within_a_step_and_sends_the_rest_on(
    factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slow_run: Callable[..., Segment],
    ask_stop: Callable[[], None],
) -> None:
    """Two workers stopped in turn, each two steps into one huge segment: every step is run
    and recorded once, and the checkpoint is where the progress says."""
    context = worker(factory, tmp_path)
    search_id = create_search(factory, steps=400, segment_steps=400)  # an event every step
    for number in (0, 1):
        segment = slow_run(context, search_id, build_s=0, step_s=0.5, number=number)
        thread = segment.start()
        segment.wait_steps(2, thread)
        ask_stop()
        steps_at_stop = segment.steps_run[-1]
        thread.join(timeout=60)
        assert not thread.is_alive() and segment.errors == []
        worker_stop.STOP_ASKED.clear()
        monkeypatch.undo()  # the next worker's build is slowed afresh
        search, steps = stored(factory, search_id)
        assert search.state is SearchState.RUNNING and search.claim_token is None
        assert search.progress["segment"] == number + 1
        assert segment.enqueued == [(search_id, number + 1)]
        assert steps_at_stop <= search.progress["step"] <= steps_at_stop + 1
        assert steps == list(range(search.progress["step"]))
        checkpoint = Path(str(search.checkpoint_path))  # the committed step's checkpoint
        assert CheckpointStore.load(checkpoint)["step"] == search.progress["step"]


def test_a_worker_stopping_as_its_search_ends_leaves_the_finish_to_the_next(
    factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ask_stop: Callable[[], None],
) -> None:
    context = worker(factory, tmp_path)
    search_id = create_search(factory, steps=2)  # one segment, then the finish
    real_save = CheckpointStore.save

    def stop_asked_after_the_last_step(*args: Any) -> Path:
        ask_stop()
        return real_save(*args)

    monkeypatch.setattr(CheckpointStore, "save", stop_asked_after_the_last_step)
    segment = Segment(context, search_id)
    thread = segment.start()
    thread.join(timeout=120)
    assert not thread.is_alive() and segment.errors == []
    search, steps = stored(factory, search_id)
    assert search.state is SearchState.RUNNING and search.claim_token is None
    assert search.result is None and steps == [0, 1]
    assert segment.enqueued == [(search_id, 1)]
    monkeypatch.undo()
    worker_stop.STOP_ASKED.clear()
    finisher = Segment(context, search_id, number=1)
    thread = finisher.start()
    thread.join(timeout=120)
    assert not thread.is_alive() and finisher.errors == [] and finisher.enqueued == []
    search, steps = stored(factory, search_id)
    assert search.state is SearchState.SUCCEEDED
    assert search.result is not None and search.result["measured_latency_ms"] > 0
    assert steps == [0, 1, 2]  # each step once, then the "finished" event at step 2


def test_a_duplicate_message_leaves_a_canceled_search_to_its_live_owner(
    factory: sessionmaker[Session], tmp_path: Path, slow_run: Callable[..., Segment]
) -> None:
    context = worker(factory, tmp_path)
    search_id = create_search(factory, steps=1000, segment_steps=1000)
    segment = slow_run(context, search_id, build_s=0, step_s=0.5)
    thread = segment.start()
    segment.wait_steps(1, thread)
    with session_scope(factory) as session:
        search = search_repo.get_search(session=session, search_id=search_id)
        search_repo.request_search_cancel(session=session, search=search)
    search_tasks.run_segment(context, search_id, 0, lambda *a: segment.enqueued.append(a))
    thread.join(timeout=60)
    assert not thread.is_alive() and segment.errors == []
    search, _ = stored(factory, search_id)
    assert search.state is SearchState.CANCELED and search.checkpoint_path is not None
    assert search.progress["step"] >= 1  # the owner committed its steps before ending it


def take_over(factory: sessionmaker[Session], search_id: str, segment: int = 0) -> str:
    """What happens to a worker silent past the stale window: the sweeper resumes its search
    and another worker claims the segment; that worker's token."""
    with session_scope(factory) as session:
        search = search_repo.get_search(session=session, search_id=search_id)
        search.updated_at -= timedelta(seconds=10 * STALE_S)
        search_repo.resume_search(session=session, search=search, stale_after_seconds=STALE_S)
        token = search_repo.claim_segment(
            session=session, search=search, segment=segment, stale_after_seconds=STALE_S
        )
        assert token is not None
        return token


@pytest.mark.parametrize("seen_by", ["heartbeat", "commit"])
def test_a_worker_that_lost_its_claim_writes_nothing(
    factory: sessionmaker[Session], tmp_path: Path, slow_run: Callable[..., Segment], seen_by: str
) -> None:
    """Seen by the heartbeat (the step loop stops early) or, when the loss falls between two
    beats, by the owner check of the segment commit."""
    by_heartbeat = seen_by == "heartbeat"
    context = worker(factory, tmp_path, stale_s=STALE_S if by_heartbeat else 600)
    search_id = create_search(factory, steps=1000, segment_steps=1000 if by_heartbeat else 3)
    segment = slow_run(context, search_id, build_s=0, step_s=0.5)
    thread = segment.start()
    segment.wait_steps(1, thread)
    new_owner = take_over(factory, search_id)
    thread.join(timeout=60)
    assert not thread.is_alive() and segment.errors == []
    search, steps = stored(factory, search_id)
    assert search.state is SearchState.RUNNING and search.claim_token == new_owner
    assert search.progress == {} and search.checkpoint_path is None and steps == []
    assert segment.enqueued == []
    assert len(segment.steps_run) < (10 if by_heartbeat else 4)


@pytest.mark.parametrize("seen_by", ["heartbeat", "owner check"])
def test_a_worker_that_lost_its_claim_while_finishing_stores_no_result(
    factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seen_by: str,
) -> None:
    """Lost during the finish: seen at the finish's heartbeat checks, or (between two beats)
    by the owner check of the transaction that would store the result."""
    by_heartbeat = seen_by == "heartbeat"
    context = worker(factory, tmp_path, stale_s=STALE_S if by_heartbeat else 600)
    if not by_heartbeat:  # no beat during the finish, however long a loaded machine makes it
        monkeypatch.setattr(search_tasks, "HEARTBEAT_S", 3600.0)
    search_id = create_search(factory, steps=2)  # one segment, then the finish
    finishing, taken_over = threading.Event(), threading.Event()
    real_finish = search_tasks.finish_search

    def finish_after_take_over(*args: Any) -> Any:
        finishing.set()
        assert taken_over.wait(timeout=60)
        time.sleep(STALE_S / 2)  # two beats
        return real_finish(*args)

    monkeypatch.setattr(search_tasks, "finish_search", finish_after_take_over)
    segment = Segment(context, search_id)
    thread = segment.start()
    assert finishing.wait(timeout=120)
    new_owner = take_over(factory, search_id, segment=1)
    taken_over.set()
    thread.join(timeout=120)
    assert not thread.is_alive() and segment.errors == [] and segment.enqueued == []
    search, steps = stored(factory, search_id)
    assert search.state is SearchState.RUNNING and search.claim_token == new_owner
    assert search.result is None
    assert steps == [0, 1]  # the segment's own commit landed before the take-over; no "finished"
    exported = [p for p in context.settings.artifact_dir.rglob("*") if p.is_file()]
    assert bool(exported) is not by_heartbeat  # the heartbeat stopped it before the exports


def test_a_worker_that_lost_its_claim_does_not_fail_the_search(
    factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = worker(factory, tmp_path, stale_s=600)
    search_id = create_search(factory)
    building, taken_over = threading.Event(), threading.Event()

    def build_fails_after_take_over(*args: Any) -> SearchRun:
        building.set()
        assert taken_over.wait(timeout=60)
        raise RuntimeError("dataset vanished")

    monkeypatch.setattr(search_tasks, "build_run", build_fails_after_take_over)
    segment = Segment(context, search_id)
    thread = segment.start()
    assert building.wait(timeout=60)
    new_owner = take_over(factory, search_id)
    taken_over.set()
    thread.join(timeout=60)
    assert not thread.is_alive() and segment.errors == []
    search, _ = stored(factory, search_id)
    assert search.state is SearchState.RUNNING and search.claim_token == new_owner
    assert search.error is None
