"""Real databases for tests: a migrated database with its engine, and PostgreSQL schemas made
for one use.

PostgreSQL is at ``HWNAS_TEST_POSTGRES_URL`` (default: the local ``test`` database). Each use
gets its own uniquely named schema and drops it at the end, so runs can repeat and run side by
side. Unreachable PostgreSQL skips the test, except under ``CI=true``, where it fails it.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from latency_db import migrate
from latency_db.db import make_engine, make_session_factory
from latency_db.models import Base

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Database:
    backend: str
    url: URL
    engine: Engine
    factory: sessionmaker[Session]

    def wipe(self) -> None:
        with self.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


def postgres_unreachable(message: str) -> NoReturn:
    """Skip the test for want of PostgreSQL, except under ``CI=true``, where CI must see it:
    fail it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _postgres_base_url() -> URL:
    return make_url(os.environ.get("HWNAS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))


def _require_postgres(url: URL) -> Engine:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        postgres_unreachable(
            f"PostgreSQL at {url.render_as_string(hide_password=True)} unreachable: {exc}"
        )
    return engine


@contextmanager
def temporary_schema() -> Iterator[URL]:
    """A URL whose connections live in a fresh, empty schema, dropped afterwards."""
    base = _postgres_base_url()
    admin = _require_postgres(base)
    schema = f"hwnas_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def migrated_postgres() -> Iterator[Database]:
    """A temporary schema migrated to head, with an engine on it."""
    with temporary_schema() as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            yield Database("postgresql", url, engine, make_session_factory(engine))
        finally:
            engine.dispose()


def migrated_sqlite_template(folder: Path) -> Path:
    """An embedded database file in ``folder`` migrated to head: each copy of it
    (:func:`copy_sqlite`) skips the half second a fresh migration takes."""
    path = folder / "hwnas.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def copy_sqlite(template: Path, target: Path) -> Path:
    """A consistent copy of the SQLite database ``template`` at ``target`` (the backup API:
    whatever its journal mode, the copy holds every committed page)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    return target
