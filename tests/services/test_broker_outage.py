"""The database is the source of truth (design section 8.8), on the real app with a private
redis-server as its broker: submits during an outage are stored and answered as usual, and
the reconciler sends their tasks when the broker is back; messages lost to a FLUSHDB are sent
again after the window, but only for work that still waits; a silent broker never hangs a
submit."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from latency_db.broker import TASK_EXPORT_JOBS, TASK_FIT_PREDICTOR, TASK_SEARCH_SEGMENT
from latency_db.db import session_scope
from latency_db.models import PredictorFit, ProfilingJob, Search
from latency_db.predictors.versions import run_fit
from latency_db.repositories import jobs as job_repo
from latency_db.repositories import predictors as predictor_repo
from latency_db.repositories import searches as search_repo
from latency_db.settings import Settings
from services.app import create_app
from services.maintenance import sweep
from services.reconcile import redispatch

from ..brokers import RedisServer, private_redis
from ..latency_db.conftest import make_artifact
from ..threads import ReportingThread
from .conftest import ADMIN_TOKEN, BOTH_DATABASES, RUNTIME, Measured

SEARCH_CONFIG = {"deploy_resolution": 32, "deploy_width": 0.35, "deploy_classes": 10}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    with private_redis(tmp_path / "redis") as server:
        yield server


def _app_settings(tmp_path: Path, database: str | None, broker_url: str) -> Settings:
    """The sweeper idles (it runs every heartbeat/2 s): tests call ``redispatch`` themselves,
    with an hour's window unless they shorten it."""
    return Settings(
        data_dir=tmp_path,
        database_url=database,
        admin_token=ADMIN_TOKEN,
        broker_url=broker_url,
        heartbeat_seconds=3600,
        redispatch_seconds=3600,
    )


@pytest.fixture
def client(tmp_path: Path, database: str | None, broker: RedisServer) -> Iterator[TestClient]:
    with TestClient(create_app(_app_settings(tmp_path, database, broker.url))) as test_client:
        test_client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield test_client


def _reconcile(client: TestClient) -> int:
    state = client.app.state  # type: ignore[attr-defined]
    return redispatch(state.session_factory, state.settings, state.task_queue)


def _job_body(measured: Measured, seed: int = 0) -> dict[str, Any]:
    return {
        "device_id": measured.device_id,
        "runtime": RUNTIME,
        "kind": "network",
        "space_ref": measured.space.ref,
        "architecture": measured.space.format(measured.space.sample(seed)),
    }


def _submit_job(client: TestClient, measured: Measured) -> str:
    reply = client.post("/v1/jobs", json=_job_body(measured))
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def _submit_search(client: TestClient, measured: Measured) -> str:
    body = {
        "device_id": measured.device_id,
        "budget_ms": 20.0,
        "estimator": "proxyless",
        "config": SEARCH_CONFIG,
    }
    reply = client.post("/v1/searches", json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def _submit_fit(client: TestClient, measured: Measured) -> str:
    body = {"device_id": measured.device_id, "space_ref": measured.space.ref, "kind": "lut"}
    reply = client.post("/v1/predictors/fits", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["id"])


def _enqueued_at(client: TestClient, rows: dict[str, type[Any]]) -> dict[str, Any]:
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        return {row_id: session.get(model, row_id).enqueued_at for row_id, model in rows.items()}


def test_submits_during_an_outage_are_stored_and_sent_when_the_broker_is_back(
    client: TestClient, measured: Measured, broker: RedisServer
) -> None:
    resumed = _submit_search(client, measured)
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        row = search_repo.get_search(session=session, search_id=resumed)
        for state in ("running", "failed"):
            search_repo.transition_search(session=session, search=row, state=state)
    broker.stop()

    job = _submit_job(client, measured)
    search = _submit_search(client, measured)
    fit = _submit_fit(client, measured)
    reply = client.post(f"/v1/searches/{resumed}/resume")
    assert reply.status_code == 200 and reply.json()["state"] == "resuming", reply.text
    rows = {job: ProfilingJob, search: Search, fit: PredictorFit, resumed: Search}
    assert client.get(f"/v1/jobs/{job}").json()["state"] == "queued"
    assert _enqueued_at(client, rows) == dict.fromkeys(rows)  # stored, not sent
    assert _reconcile(client) == 0  # still down: nothing sent, nothing stamped

    broker.start()
    assert _reconcile(client) == 4
    assert sorted(broker.queued_tasks()) == sorted(
        [
            (TASK_EXPORT_JOBS, [[job]]),
            (TASK_SEARCH_SEGMENT, [search, 0]),
            (TASK_SEARCH_SEGMENT, [resumed, 0]),
            (TASK_FIT_PREDICTOR, [fit]),
        ]
    )
    assert None not in _enqueued_at(client, rows).values()
    assert _reconcile(client) == 0  # sent once per window


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_flushed_messages_are_sent_again_only_for_work_that_still_waits(
    client: TestClient, measured: Measured, broker: RedisServer
) -> None:
    job, search, fit = (
        _submit_job(client, measured),
        _submit_search(client, measured),
        _submit_fit(client, measured),
    )
    canceled = client.post("/v1/jobs", json=_job_body(measured, 2)).json()["id"]
    assert client.post(f"/v1/jobs/{canceled}/cancel").json()["state"] == "canceled"
    assert len(broker.queued_tasks()) == 4
    assert _reconcile(client) == 0  # just sent: inside the window
    broker.client().flushdb()
    client.app.state.settings.redispatch_seconds = 1  # type: ignore[attr-defined]
    time.sleep(1.2)  # past the window
    assert _reconcile(client) == 3
    assert sorted(broker.queued_tasks()) == sorted(
        [
            (TASK_EXPORT_JOBS, [[job]]),
            (TASK_SEARCH_SEGMENT, [search, 0]),
            (TASK_FIT_PREDICTOR, [fit]),
        ]
    )

    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        row = job_repo.get_job(session=session, job_id=job)
        job_repo.attach_artifact(session=session, job=row, artifact=make_artifact(session, "x"))
        search_repo.transition_search(
            session=session,
            search=search_repo.get_search(session=session, search_id=search),
            state="running",
        )
        run_fit(session=session, fit=predictor_repo.get_fit(session=session, fit_id=fit))
    broker.client().flushdb()
    time.sleep(1.2)
    assert _reconcile(client) == 0  # exported, claimed, fitted: nothing waits any more
    assert broker.queued_tasks() == []


def test_a_resumed_stale_search_is_sent_by_the_same_pass(
    client: TestClient, measured: Measured, broker: RedisServer
) -> None:
    search = _submit_search(client, measured)
    state = client.app.state  # type: ignore[attr-defined]
    with session_scope(state.session_factory) as session:
        row = search_repo.get_search(session=session, search_id=search)
        search_repo.transition_search(session=session, search=row, state="running")
        row.updated_at -= timedelta(hours=1)  # its worker went silent
    broker.client().flushdb()
    with session_scope(state.session_factory) as session:
        sweep(session, state.settings)
    assert client.get(f"/v1/searches/{search}").json()["state"] == "resuming"
    assert _reconcile(client) == 1
    assert broker.queued_tasks() == [(TASK_SEARCH_SEGMENT, [search, 0])]


def test_a_silent_broker_does_not_hang_a_submit(
    tmp_path: Path, measured: Measured, client: TestClient
) -> None:
    """A broker that accepts the connection and never answers: the submit is answered after
    the bounded connect/socket timeouts, not never."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    settings = _app_settings(tmp_path, None, f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    answers: list[int] = []
    with TestClient(create_app(settings)) as hung:
        hung.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        submit = ReportingThread(
            lambda: answers.append(hung.post("/v1/jobs", json=_job_body(measured, 1)).status_code)
        )
        submit.start()
        submit.join(timeout=30)
        answered_in_time = list(answers)
        silent.close()  # a send hung for want of a timeout (the guard broken) sees EOF
        submit.join(timeout=30)
    assert answered_in_time == [201]
