"""Nothing is stranded by a broker loss (design section 8.8), with real processes: an API
server and a Celery worker on PostgreSQL and a private redis-server. A FLUSHDB while an export
and a resumed search are queued: the API's reconciler sends them again and the worker exports
the network and claims the segment. The redis-server stopped: a submit is still a 201 and
loses nothing; restarted on the same port: the job is sent and exported."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.repositories import searches as search_repo

from ..brokers import RedisServer, private_redis
from ..services.conftest import RUNTIME, Measured, seed_measurements
from .conftest import Stack, start_stack

SEARCH = {
    "deploy_resolution": 32,
    "deploy_width": 0.35,
    "deploy_classes": 10,
    "deploy_batch": 32,
    "proxy_resolution": 16,
    "proxy_width": 0.35,
    "batch_size": 8,
    "steps": 8,
    "warmup_steps": 2,
    "segment_steps": 2,
    "eval_batches": 1,
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    with private_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def stack(tmp_path: Path, database_url: str, broker: RedisServer) -> Iterator[Stack]:
    """The API on the private broker, re-sending after a short window."""
    result = start_stack(
        tmp_path, database_url, HWNAS_BROKER_URL=broker.url, HWNAS_REDISPATCH_SECONDS="2"
    )
    try:
        yield result
    finally:
        result.stop_all()


@pytest.fixture
def lossy(stack: Stack, database_url: str) -> Iterator[Measured]:
    """A device with a complete lookup table, written straight into the database."""
    engine = make_engine(database_url)
    try:
        yield seed_measurements(make_session_factory(engine), "cpu-lossy")
    finally:
        engine.dispose()


def _until(what: str, probe: Callable[[], Any], timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        assert time.monotonic() < deadline, f"{what} not within {timeout_s:.0f}s"
        time.sleep(0.5)
    return value


def _submit_job(stack: Stack, measured: Measured, seed: int) -> str:
    body = {
        "device_id": measured.device_id,
        "runtime": RUNTIME,
        "kind": "network",
        "space_ref": measured.space.ref,
        "architecture": measured.space.format(measured.space.sample(seed)),
    }
    reply = httpx.post(
        f"{stack.url}/v1/jobs",
        json=body,
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def _exported(stack: Stack, job_id: str) -> bool:
    return stack.api().get(f"/jobs/{job_id}")["artifact_sha256"] is not None


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_work_survives_a_flushdb_and_an_outage(
    stack: Stack, broker: RedisServer, lossy: Measured, database_url: str
) -> None:
    api = stack.api()
    search = api.post(
        "/searches",
        {
            "device_id": lossy.device_id,
            "budget_ms": 50.0,
            "estimator": "proxyless",
            "config": SEARCH,
        },
    )["id"]
    engine = make_engine(database_url)
    try:  # the search's worker failed it; the user resumes it (a message to the broker)
        with session_scope(make_session_factory(engine)) as session:
            row = search_repo.get_search(session=session, search_id=search)
            for state in ("running", "failed"):
                search_repo.transition_search(session=session, search=row, state=state)
    finally:
        engine.dispose()
    assert api.post(f"/searches/{search}/resume")["state"] == "resuming"
    job = _submit_job(stack, lossy, 0)
    assert len(broker.queued_tasks()) == 3  # the search's two segment-0 messages, the export
    broker.client().flushdb()

    stack.start_worker()
    _until("the flushed export re-sent and run", lambda: _exported(stack, job))
    claimed = _until(
        "the flushed segment re-sent and claimed",
        lambda: (s := api.get(f"/searches/{search}"))["state"] != "resuming" and s,
    )
    assert claimed["state"] in ("running", "succeeded"), claimed
    api.post(f"/searches/{search}/cancel")

    broker.stop()
    during = _submit_job(stack, lossy, 1)  # a 201, not a 500
    assert api.get(f"/jobs/{during}")["state"] == "queued"
    broker.start()  # same port, empty
    _until(
        "the job submitted during the outage sent and exported", lambda: _exported(stack, during)
    )
