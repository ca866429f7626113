"""Alembic: upgrade -> downgrade -> upgrade on both backends, no drift against the models,
and the embedded database migrated on first use."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import URL

from latency_db import migrate
from latency_db.db import ensure_schema, make_engine
from latency_db.models import Base


def _tables(url: str | URL) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _drift(url: str | URL) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _round_trip(url: str | URL) -> None:
    model_tables = set(Base.metadata.tables)
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head_revision() == "0001"
    assert model_tables <= _tables(url)
    migrate.downgrade(url)
    assert migrate.current(url) is None
    assert not model_tables & _tables(url)
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head_revision()
    assert _drift(url) == []


def test_sqlite_round_trip_without_drift(fresh_sqlite_url: str) -> None:
    _round_trip(fresh_sqlite_url)


@pytest.mark.postgres
def test_postgresql_round_trip_without_drift(fresh_postgres_url: URL) -> None:
    _round_trip(fresh_postgres_url)


def test_embedded_database_is_migrated_on_first_use(fresh_sqlite_url: str) -> None:
    engine = make_engine(fresh_sqlite_url)
    try:
        ensure_schema(engine)
        ensure_schema(engine)  # idempotent
        assert migrate.current(engine) == migrate.head_revision()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_server_database_is_not_migrated_behind_the_operators_back(
    fresh_postgres_url: URL,
) -> None:
    engine = make_engine(fresh_postgres_url)
    try:
        with pytest.raises(RuntimeError, match="run the migrations"):
            ensure_schema(engine)
        assert migrate.current(engine) is None
    finally:
        engine.dispose()


def test_command_line_migrates_the_settings_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HWNAS_DATABASE_URL", raising=False)
    monkeypatch.setenv("HWNAS_DATA_DIR", str(tmp_path / "data"))
    migrate.main(["upgrade"])
    assert (tmp_path / "data" / "hwnas.sqlite3").is_file()
    migrate.main(["downgrade", "--url", f"sqlite:///{tmp_path / 'data' / 'hwnas.sqlite3'}"])
    migrate.main(["current"])
    assert capsys.readouterr().out.split() == ["0001", "base", "base"]
