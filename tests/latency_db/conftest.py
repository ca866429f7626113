"""Real databases for the latency_db tests: a SQLite file and a PostgreSQL schema (see
``tests/databases.py``), each migrated once per session and emptied after every test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from latency_db import migrate
from latency_db.db import make_engine, make_session_factory
from latency_db.models import Agent, Artifact, Device, ProfilingJob, RuntimeConfig
from latency_db.repositories import artifacts, devices, enrollment, jobs, runtime_configs

from ..databases import Database, temporary_schema


@pytest.fixture
def fresh_postgres_url() -> Iterator[URL]:
    """An empty PostgreSQL schema for one test."""
    with temporary_schema() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url = make_url(f"sqlite:///{tmp_path_factory.mktemp('db') / 'hwnas.sqlite3'}")
    migrate.upgrade(url)
    engine = make_engine(url)
    yield Database("sqlite", url, engine, make_session_factory(engine))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database of each backend, emptied after every test."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    try:
        yield database
    finally:
        database.wipe()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """One open transaction; rolled back at the end (tests that commit use ``db.factory``)."""
    with db.factory() as s:
        yield s
        s.rollback()


@pytest.fixture
def fresh_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fresh.sqlite3'}"


@dataclass
class World:
    """A device with a runtime config and one enrolled agent of the config's backend."""

    device: Device
    runtime_config: RuntimeConfig
    agent: Agent
    credential: str


def make_world(session: Session, name: str = "cpu-1", backend: str = "ort-cpu") -> World:
    device = devices.create_device(session=session, name=name, kind="cpu")
    config = runtime_configs.get_or_create_runtime_config(
        session=session, backend=backend, settings={"threads": 2}
    )
    _, token = enrollment.issue_enrollment_token(session=session, device=device)
    agent, credential = enrollment.enroll_agent(
        session=session, token=token, name=f"{name}-agent", backend=backend
    )
    return World(device, config, agent, credential)


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


OP_SHAPE = [32, 24, 56, 56]


def make_artifact(session: Session, subject: str) -> Artifact:
    return artifacts.register_artifact(
        session=session,
        sha256=hashlib.sha256(subject.encode()).hexdigest(),
        kind="onnx",
        size_bytes=1234,
        subject=subject,
        input_shape=OP_SHAPE,
        opset=17,
    )


def queue_job(
    session: Session, world: World, subject: str, *, max_attempts: int = 3, priority: int = 0
) -> ProfilingJob:
    """A queued, claimable ``op`` job for the world's device and runtime config."""
    return jobs.create_job(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        kind="op",
        subject=subject,
        batch_size=32,
        input_shape=OP_SHAPE,
        max_attempts=max_attempts,
        artifact=make_artifact(session, subject),
        space_ref="proxyless-r224-w1.0-c1000",
        priority=priority,
    )
