"""Agent requests under a full threadpool (issue 18's load): a heartbeat runs on threads of
its own, and an agent request holds a pooled connection only inside its one thread.

The app runs in-process over ASGI on this test's event loop, whose default thread limiter
(the shared threadpool of sync routes) the tests fill or shrink.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from anyio import to_thread
from fastapi import FastAPI

from latency_db.db import session_scope
from latency_db.repositories import artifacts as artifact_repo
from latency_db.repositories import devices as device_repo
from latency_db.repositories import jobs as job_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.settings import Settings
from services.app import create_app

from .conftest import ADMIN_TOKEN, BOTH_DATABASES

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Agent:
    headers: dict[str, str]
    lease_token: str


def _app(tmp_path: Path, database: str | None, pool: tuple[int, int] = (40, 10)) -> FastAPI:
    """The app; ``pool``: its database pool's size and overflow."""
    return create_app(
        Settings(
            data_dir=tmp_path,
            database_url=database,
            admin_token=ADMIN_TOKEN,
            sentinel=False,
            database_pool_size=pool[0],
            database_pool_overflow=pool[1],
        )
    )


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api/v1") as client:
        yield client


def _queue_job(app: FastAPI, device_id: str) -> None:
    with session_scope(app.state.session_factory) as session:
        artifact = artifact_repo.register_artifact(
            session=session,
            sha256=hashlib.sha256(b"op-a").hexdigest(),
            kind="onnx",
            size_bytes=10,
            subject="op-a",
            input_shape=[32, 8, 8, 8],
            opset=17,
        )
        job_repo.create_job(
            session=session,
            device=device_repo.get_device(session=session, device_id=device_id),
            runtime_config=runtime_repo.get_or_create_runtime_config(
                session=session, backend="ort-cpu", settings={"threads": 1}
            ),
            kind="op",
            subject="op-a",
            batch_size=32,
            input_shape=[32, 8, 8, 8],
            max_attempts=3,
            artifact=artifact,
        )


async def _agent_with_lease(app: FastAPI, client: httpx.AsyncClient) -> Agent:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = await client.post("/devices", json={"name": "cpu", "kind": "cpu"}, headers=admin)
    device = created.json()
    enroll = {"enrollment_token": device["enrollment"]["token"], "name": "a", "backend": "ort-cpu"}
    credential = (await client.post("/agents/enroll", json=enroll)).json()["credential"]
    _queue_job(app, device["device"]["id"])
    headers = {"Authorization": f"Bearer {credential}"}
    claimed = await client.post("/agents/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    return Agent(headers, claimed.json()["lease_token"])


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
async def test_a_heartbeat_answers_while_every_shared_thread_is_taken(
    tmp_path: Path, database: str | None
) -> None:
    """Every thread of the shared pool busy (as under a load of claims and results): a
    renew waits for one, the heartbeat does not."""
    app = _app(tmp_path, database)
    async with _client(app) as client:
        agent = await _agent_with_lease(app, client)
        shared = to_thread.current_default_thread_limiter()
        holders = [object() for _ in range(int(shared.total_tokens))]
        for holder in holders:
            await shared.acquire_on_behalf_of(holder)
        try:
            with anyio.move_on_after(0.5) as renew_waited:
                await client.post(
                    "/leases/renew", headers={**agent.headers, "Lease-Token": agent.lease_token}
                )
            with anyio.fail_after(5):
                beat = await client.post("/agents/heartbeat", json={}, headers=agent.headers)
        finally:
            for holder in holders:
                shared.release_on_behalf_of(holder)
    assert renew_waited.cancelled_caught, "the shared threadpool was not full after all"
    assert beat.status_code == 200, beat.text


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_agent_requests_beyond_the_pool_hold_no_connection_while_they_wait(
    tmp_path: Path, database: str | None
) -> None:
    """Two pooled connections, two threads, twelve concurrent renews: each request reads
    its agent and renews in one thread and one transaction, so all are answered. A request
    that read its agent in a dependency kept that connection while it waited for a thread
    for the route, and the threads waited for connections (none answered for the pool's
    30 s timeout)."""
    app = _app(tmp_path, database, pool=(2, 0))
    async with _client(app) as client:
        agent = await _agent_with_lease(app, client)
        to_thread.current_default_thread_limiter().total_tokens = 2
        statuses: list[int] = []

        async def renew() -> None:
            reply = await client.post(
                "/leases/renew", headers={**agent.headers, "Lease-Token": agent.lease_token}
            )
            statuses.append(reply.status_code)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                for _ in range(12):
                    group.start_soon(renew)
    assert statuses == [200] * 12
