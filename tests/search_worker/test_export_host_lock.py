"""A worker's model export waits while an agent on its host measures (issue 16 item 6): the
export is CPU work on the device the agent times, like a training step."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from latency_db import migrate
from latency_db.artifact_store import ArtifactStore
from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.repositories import devices, jobs, runtime_configs
from latency_db.settings import Settings
from latency_db.spaces import get_space
from profiler_agent.host_lock import HostLock
from search_worker.context import WorkerContext
from search_worker.tasks.export_tasks import export_one

from ..threads import ReportingThread

HOLD_S = 1.0


def test_an_export_waits_for_the_agent_measuring_beside_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    space = get_space("proxyless", 32, 0.35, 10)
    subject, block = next(iter(space.candidate_blocks().items()))
    with session_scope(sessions) as session:
        device = devices.create_device(session=session, name="cpu-1", kind="cpu")
        config = runtime_configs.get_or_create_runtime_config(
            session=session, backend="ort-cpu", settings={"threads": 1}
        )
        job_id = jobs.create_job(
            session=session,
            device=device,
            runtime_config=config,
            kind="op",
            subject=subject,
            batch_size=2,
            input_shape=[2, block.in_ch, block.in_hw, block.in_hw],
            max_attempts=1,
            space_ref=space.ref,
        ).id
    settings = Settings(data_dir=tmp_path / "worker")
    lock = HostLock(tmp_path / "lock")
    context = WorkerContext(settings, sessions, ArtifactStore(settings.artifact_dir), lock)

    measuring, release = threading.Event(), threading.Event()

    def agent_side() -> None:
        with lock.measuring():
            measuring.set()
            release.wait(timeout=30)

    agent = ReportingThread(agent_side)
    agent.start()
    try:
        assert measuring.wait(timeout=10)
        exporter = ReportingThread(export_one, context, job_id)
        with caplog.at_level(logging.INFO, logger="search_worker.tasks.export_tasks"):
            exporter.start()
            exporter.join(timeout=HOLD_S)
            release.set()
            exporter.join(timeout=120)
    finally:
        release.set()
        agent.join()
    assert not exporter.is_alive()
    with session_scope(sessions) as session:
        sha256 = jobs.get_job(session=session, job_id=job_id).artifact_sha256
    assert sha256 is not None and context.store.path_for(sha256).stat().st_size > 0
    waits = [r.args[1] for r in caplog.records if "waited" in r.getMessage()]
    assert len(waits) == 1 and waits[0] >= HOLD_S * 0.9  # type: ignore[index]
    engine.dispose()
