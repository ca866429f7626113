"""A real stack for integration tests: a uvicorn API process (SQLite with the embedded
broker, or PostgreSQL with Redis), a Celery worker process and ``hwnas-agent`` processes,
talking real HTTP.

PostgreSQL runs get a fresh database each, created and dropped here; an unreachable
server skips them, except under ``CI=true`` where it fails them.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from hwnas import Client
from latency_db import migrate
from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.repositories import devices as device_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.spaces import get_space
from services import processes

from ..databases import copy_sqlite, postgres_unreachable
from ..lookup_tables import add_op_keys

POSTGRES_ADMIN = os.environ.get(
    "HWNAS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
# One Redis database per pytest-xdist worker (15, 14, ...): parallel workers never flush or
# consume each other's queues.
_XDIST_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
REDIS_URL = os.environ.get("HWNAS_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - _XDIST_INDEX}")
RUNTIME = {"backend": "ort-cpu", "settings": {"threads": 1}}
FAST_POLICY = [
    *("--warmup-runs", "2", "--warmup-seconds", "0", "--runs", "5", "--seconds", "0"),
    *("--max-seconds", "0", "--max-disturbed-tries", "1"),
]
# After a test nothing waits on a graceful stop (a test about one stops its process itself):
# SIGKILL after a second. An idle Celery worker takes 2-6 s to leave its broker poll.
TEARDOWN_GRACE_S = 1.0


@dataclass
class Stack:
    """The processes of one test and a user's API client."""

    data_dir: Path
    env: dict[str, str]
    url: str
    token: str
    port: int
    children: list[processes.ChildProcess] = field(default_factory=list)
    runtime: dict[str, Any] = field(default_factory=lambda: dict(RUNTIME))
    server_args: tuple[str, ...] = ()  # more options of ``hwnas server``

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def server(self) -> processes.ChildProcess:
        """The API server's process."""
        (server,) = [c for c in self.children if c.name == "api"]
        return server

    def api(self) -> Client:
        return Client(self.url, self.token)

    def submit_model_job(self, device_id: str, sha256: str) -> dict[str, Any]:
        body = {
            "device_id": device_id,
            "runtime": self.runtime,
            "kind": "model",
            "artifact_sha256": sha256,
        }
        return dict(self.api().post("/jobs", body))

    def wait_job(self, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
        """Poll a job until it is finished; its last state."""
        api = self.api()
        deadline = time.monotonic() + timeout_s
        while True:
            job = dict(api.get(f"/jobs/{job_id}"))
            if job["state"] in ("succeeded", "failed", "canceled"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['state']} after {timeout_s}s")
            time.sleep(0.3)

    def measurement_of(self, job: dict[str, Any]) -> dict[str, Any]:
        """The one measurement a finished job wrote, with its raw times."""
        api = self.api()
        rows = api.get("/measurements", subject=job["subject"], device_id=job["device_id"])
        (row,) = [r for r in rows if r["job_id"] == job["id"]]
        return dict(api.get(f"/measurements/{row['id']}"))

    def seed_lookup_table(self, device_id: str, batch: int) -> None:
        """A complete lookup table of the 32x32 deploy space (width 0.35, 10 classes) at
        ``batch``, every op 0.2 ms, written straight to the database: a search can be
        submitted without an agent building it (that is tests/integration/test_agent_flow.py)."""
        space = get_space("proxyless", 32, 0.35, 10)
        engine = make_engine(self.env["HWNAS_DATABASE_URL"])
        try:
            with session_scope(make_session_factory(engine)) as session:
                device = device_repo.get_device(session=session, device_id=device_id)
                runtime = runtime_repo.get_or_create_runtime_config(
                    session=session,
                    backend=self.runtime["backend"],
                    settings=self.runtime["settings"],
                )
                add_op_keys(session, device, runtime, space, batch, lambda _: 0.2)
        finally:
            engine.dispose()

    def start_server(self) -> processes.ChildProcess:
        argv = ["-m", "services.cli.main", "server", "--port", str(self.port), *self.server_args]
        server = self._start("api", argv)
        processes.wait_until(
            processes.http_ok(f"{self.url}/v1/health"), child=server, timeout_s=60, what="API up"
        )
        return server

    def start_worker(self, name: str = "worker") -> processes.ChildProcess:
        return self._start(name, ["-m", "search_worker"])

    def start_agent(self, name: str, enroll_token: str, *extra: str) -> processes.ChildProcess:
        argv = [
            "-m",
            "profiler_agent.cli",
            "run",
            "--server",
            self.url,
            "--name",
            name,
            "--enroll-token",
            enroll_token,
            "--backend",
            "ort-cpu",
            "--threads",
            "1",
            "--data-dir",
            str(self.data_dir / name),
            *(extra or FAST_POLICY),
        ]
        return self._start(name, argv)

    def _start(self, name: str, argv: list[str]) -> processes.ChildProcess:
        child = processes.start(name, argv, log_dir=self.logs, env=self.env)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop(grace_s=TEARDOWN_GRACE_S)


def _postgres_database(template: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database's URL (a copy of ``template`` when given), dropped after."""
    name = f"hwnas_it_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    except psycopg.OperationalError as err:
        postgres_unreachable(f"PostgreSQL at {POSTGRES_ADMIN} unreachable: {err}")
    with admin:
        copy_of = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{copy_of}')
    url = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{url}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per session (and pytest-xdist worker), which each
    test's database copies (``CREATE DATABASE ... TEMPLATE``) instead of migrating anew."""
    for url in _postgres_database():
        migrate.upgrade(url)
        yield url.rsplit("/", 1)[1]


def _database(request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A migrated database's URL for ``request.param``: a SQLite file in ``folder``, or a
    fresh PostgreSQL database dropped afterwards; both copies of the session's template."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        yield f"sqlite:///{copy_sqlite(template, folder / 'hwnas.sqlite3')}"
        return
    yield from _postgres_database(request.getfixturevalue("postgres_template"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from _database(request, tmp_path)


def start_stack(
    tmp_path: Path, database_url: str, server_args: tuple[str, ...] = (), **env: str
) -> Stack:
    """An API server on a free port with short leases (``env`` adds or overrides settings,
    ``server_args`` options of ``hwnas server``); PostgreSQL runs get the production shape's
    Redis broker (the shared one, flushed)."""
    port = processes.free_port()
    token = secrets.token_urlsafe(16)
    base = {
        "HWNAS_DATA_DIR": str(tmp_path),
        "HWNAS_DATABASE_URL": database_url,
        "HWNAS_ADMIN_TOKEN": token,
        "HWNAS_LEASE_SECONDS": "4",
        "HWNAS_HEARTBEAT_SECONDS": "1",
        "HWNAS_MAX_UPLOAD_BYTES": str(1 << 20),
        "HWNAS_HOST_LOCK_DIR": str(tmp_path / "host-lock"),  # this stack's worker and agents
        "HWNAS_SENTINEL": "false",  # tests that follow their own jobs claim by claim
    }
    if database_url.startswith("postgresql") and "HWNAS_BROKER_URL" not in env:
        redis.Redis.from_url(REDIS_URL).flushdb()
        base["HWNAS_BROKER_URL"] = REDIS_URL
    result = Stack(
        tmp_path, base | env, f"http://127.0.0.1:{port}", token, port, server_args=server_args
    )
    try:
        result.start_server()
    except BaseException:
        result.stop_all()
        raise
    return result


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """An API server on a free port with short leases; workers and agents on demand. The
    sentinel schedule is off unless the test is marked ``sentinel``: the other tests follow
    their own jobs claim by claim."""
    sentinel = request.node.get_closest_marker("sentinel") is not None
    result = start_stack(tmp_path, database_url, HWNAS_SENTINEL=str(sentinel).lower())
    try:
        yield result
    finally:
        result.stop_all()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack shared by the tests of a module whose tests each make their own devices
    (a server start costs seconds of CPU); see :func:`per_test_children`."""
    data_dir = tmp_path_factory.mktemp("module-stack")
    for url in _database(request, data_dir):
        result = start_stack(data_dir, url, HWNAS_SENTINEL="false")
        try:
            yield result
        finally:
            result.stop_all()


def per_test_children(shared: Stack) -> Iterator[Stack]:
    """``shared`` for one test; the workers and agents the test started are stopped after it."""
    started = len(shared.children)
    try:
        yield shared
    finally:
        for child in reversed(shared.children[started:]):
            child.stop(grace_s=TEARDOWN_GRACE_S)
        del shared.children[started:]


@pytest.fixture
def new_device(stack: Stack) -> Callable[[str], tuple[str, str]]:
    """Create a device through the API: its id and a one-time enrollment token."""

    def create(name: str) -> tuple[str, str]:
        created = stack.api().post("/devices", {"name": name, "kind": "cpu"})
        return created["device"]["id"], created["enrollment"]["token"]

    return create


@pytest.fixture
def upload_model(stack: Stack, tiny_onnx: Path) -> Callable[[], dict[str, object]]:
    def upload() -> dict[str, object]:
        response = httpx.post(
            f"{stack.url}/v1/artifacts",
            params={"name": "tiny"},
            content=tiny_onnx.read_bytes(),
            headers={"Authorization": f"Bearer {stack.token}"},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    return upload
