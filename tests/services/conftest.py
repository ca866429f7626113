"""The real FastAPI app on a SQLite file (or PostgreSQL, for tests parametrized with
``BOTH_DATABASES``), driven in-process over ASGI; the CLI pointed at an embedded database or
at that app; a device with a seeded LUT and measured networks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hwnas import Client
from latency_db.db import session_scope
from latency_db.models import JobState, ProfilingJob
from latency_db.repositories import artifacts as artifact_repo
from latency_db.repositories import devices as device_repo
from latency_db.repositories import jobs as job_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.settings import Settings
from latency_db.spaces import Architecture, SearchSpace, get_space
from services.app import create_app
from services.cli import dispatch

from ..databases import Database, copy_sqlite
from ..lookup_tables import add_op_keys

ADMIN_TOKEN = "test-admin-token-0123456789"
RUNTIME = {"backend": "ort-cpu", "settings": {"threads": 1}}
CLI_MODES = ("embedded", "api")  # where a CLI test's commands go (see ``cli_modes``)
N_NETWORKS = 80


# ``@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)`` runs a test's
# ``client`` on each backend.
BOTH_DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str | None]:
    """The API's database URL: None (its own SQLite file, a copy of the session's migrated
    one) unless the test is parametrized with ``postgres``: then the session's PostgreSQL
    schema, emptied afterwards."""
    if getattr(request, "param", "sqlite") == "sqlite":
        copy_sqlite(sqlite_template, tmp_path / "hwnas.sqlite3")
        yield None
        return
    postgres: Database = request.getfixturevalue("postgres_db")
    try:
        yield postgres.url.render_as_string(hide_password=False)
    finally:
        postgres.wipe()


@pytest.fixture
def client(
    request: pytest.FixtureRequest, tmp_path: Path, database: str | None
) -> Iterator[TestClient]:
    """The app in-process. The sentinel schedule is off unless the test is marked
    ``sentinel``: the other tests claim their own jobs one by one."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=database,
        admin_token=ADMIN_TOKEN,
        max_upload_bytes=1 << 20,
        sentinel=request.node.get_closest_marker("sentinel") is not None,
    )
    with TestClient(create_app(settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield test_client


@pytest.fixture
def local_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's data directory, with an embedded database, apart from the API's."""
    data_dir = tmp_path / "cli"
    monkeypatch.setenv("HWNAS_DATA_DIR", str(data_dir))
    monkeypatch.delenv("HWNAS_SERVER_URL", raising=False)
    monkeypatch.delenv("HWNAS_DATABASE_URL", raising=False)
    data_dir.mkdir()
    return data_dir


@pytest.fixture
def cli_server(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI at ``client``'s app (HWNAS_SERVER_URL) over in-process ASGI."""

    def in_process(url: str, token: str) -> Client:
        http = TestClient(
            client.app,
            base_url="http://testserver/v1",
            headers={"Authorization": f"Bearer {token}"},
        )
        return Client(url, token, http=http)

    monkeypatch.setattr(dispatch, "Client", in_process)
    monkeypatch.setenv("HWNAS_SERVER_URL", "http://testserver")


@pytest.fixture
def api(client: TestClient) -> Iterator[Client]:
    """The Python client on ``client``'s app, in-process."""
    http = TestClient(client.app, base_url="http://testserver/v1", headers=client.headers)
    with Client("http://testserver", ADMIN_TOKEN, http=http) as in_process:
        yield in_process


@dataclass(frozen=True)
class Measured:
    device_id: str
    runtime_config_id: str
    space: SearchSpace
    lut_ms: dict[str, float]

    def true_ms(self, arch: Architecture) -> float:
        """A device whose networks run 20% faster than their LUT sum, plus an overhead."""
        return 0.8 * sum(self.lut_ms[k] for k in self.space.op_keys(arch)) + 1.5


def time_queued_op_jobs(
    sessions: sessionmaker[Session], times_ms: Callable[[ProfilingJob], list[float]]
) -> list[str]:
    """A stand-in for worker and agent: every queued op job measured with ``times_ms(job)``
    and marked succeeded, in one transaction; the subjects of the jobs it timed."""
    with session_scope(sessions) as session:
        queued = session.scalars(
            select(ProfilingJob).where(ProfilingJob.state == JobState.QUEUED)
        ).all()
        for job in queued:
            measurement_repo.add_measurement(
                session=session,
                device=job.device,
                runtime_config=job.runtime_config,
                subject_kind="op",
                subject=job.subject,
                batch_size=job.batch_size,
                input_shape=job.input_shape,
                times_ms=times_ms(job),
                environment={},
                source="local",
                space_ref=job.space_ref,
            )
            job.state = JobState.SUCCEEDED
        return [job.subject for job in queued]


def seed_measurements(sessions: sessionmaker[Session], device_name: str) -> Measured:
    """A CPU device with a random LUT of a small proxyless instance and N_NETWORKS measured
    networks whose latency follows ``Measured.true_ms``."""
    space = get_space("proxyless", resolution=32, width_mult=0.35, num_classes=10)
    rng = np.random.default_rng(0)
    with session_scope(sessions) as session:
        device = device_repo.create_device(session=session, name=device_name, kind="cpu")
        runtime = runtime_repo.get_or_create_runtime_config(
            session=session, backend=RUNTIME["backend"], settings=RUNTIME["settings"]
        )
        common = {"session": session, "device": device, "runtime_config": runtime}
        lut = {key: float(rng.uniform(0.2, 2.0)) for key in space.candidate_blocks()}
        add_op_keys(session, device, runtime, space, 32, lut.__getitem__)
        measured = Measured(device.id, runtime.id, space, lut)
        for seed in range(N_NETWORKS):
            arch = space.sample(seed)
            measurement_repo.add_measurement(
                **common,
                subject_kind="network",
                subject=space.format(arch),
                batch_size=32,
                input_shape=[32, 3, 32, 32],
                times_ms=[measured.true_ms(arch)] * 5,
                environment={},
                source="local",
                space_ref=space.ref,
            )
    return measured


@pytest.fixture
def measured(client: TestClient) -> Measured:
    """``seed_measurements`` in the API's database."""
    return seed_measurements(client.app.state.session_factory, "cpu-pred")  # type: ignore[attr-defined]


def app_sessions(client: TestClient) -> Any:
    """The session factory of ``client``'s app."""
    return client.app.state.session_factory  # type: ignore[attr-defined]


def queue_op_job(client: TestClient, device_id: str, subject: str) -> str:
    """A queued ``op`` job on the device, its artifact registered (no bytes stored) with the
    sha256 of ``subject``; answers that sha256."""
    with session_scope(app_sessions(client)) as session:
        device = device_repo.get_device(session=session, device_id=device_id)
        runtime = runtime_repo.get_or_create_runtime_config(
            session=session, backend="ort-cpu", settings={"threads": 1}
        )
        artifact = artifact_repo.register_artifact(
            session=session,
            sha256=hashlib.sha256(subject.encode()).hexdigest(),
            kind="onnx",
            size_bytes=10,
            subject=subject,
            input_shape=[32, 8, 8, 8],
            opset=17,
        )
        job_repo.create_job(
            session=session,
            device=device,
            runtime_config=runtime,
            kind="op",
            subject=subject,
            batch_size=32,
            input_shape=[32, 8, 8, 8],
            max_attempts=3,
            artifact=artifact,
        )
        return artifact.sha256


@pytest.fixture
def lease(client: TestClient) -> dict[str, Any]:
    """An enrolled agent holding the lease of a queued ``op`` job: its headers, its token and
    the headers of a call on the lease (``Lease-Token`` too)."""
    created = client.post("/v1/devices", json={"name": "cpu-1", "kind": "cpu"}).json()
    enroll = {"enrollment_token": created["enrollment"]["token"], "name": "a", "backend": "ort-cpu"}
    credential = client.post("/v1/agents/enroll", json=enroll).json()["credential"]
    queue_op_job(client, created["device"]["id"], "op-a")
    headers = {"Authorization": f"Bearer {credential}"}
    claimed = client.post("/v1/agents/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    token = claimed.json()["lease_token"]
    return {"headers": headers, "token": token, "lease_headers": {**headers, "Lease-Token": token}}


@pytest.fixture(params=CLI_MODES)
def served(request: pytest.FixtureRequest, local_cli: Path) -> Iterator[TestClient]:
    """A CLI test runs once per mode (``cli_modes``): this is the API client of the database
    the CLI works on, to arrange and check through the API."""
    from .cli_modes import cli_on  # it imports this module

    with cli_on(request.param, request, local_cli) as client:
        yield client
