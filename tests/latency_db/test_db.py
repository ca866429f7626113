"""Engines, the database clock, UTC timestamps, sortable ids and session scopes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from latency_db.db import db_now, make_engine, session_scope
from latency_db.models import Device, DeviceKind, new_id
from latency_db.repositories import devices
from latency_db.settings import Settings

from .conftest import Database


def test_db_now_is_aware_utc_and_close_to_the_host_clock(session: Session) -> None:
    now = db_now(session)
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_db_now_is_one_reading_per_transaction(db: Database) -> None:
    """As PostgreSQL's ``now()``: the same time all through a transaction (one round trip,
    one time for a request's decisions), a later one in the next."""
    with session_scope(db.factory) as s:
        first = db_now(s)
        s.execute(text("SELECT 1"))
        time.sleep(0.02)
        assert db_now(s) == first
    with session_scope(db.factory) as s:
        assert db_now(s) > first


def test_timestamps_come_back_aware_utc(db: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    with session_scope(db.factory) as s:
        device = devices.create_device(session=s, name="tz", kind="cpu")
        device.created_at = datetime(2026, 1, 1, 12, 0, tzinfo=plus_two)
    with session_scope(db.factory) as s:
        stored = s.scalars(select(Device).where(Device.name == "tz")).one().created_at
    assert stored == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(session: Session) -> None:
    device = devices.create_device(session=session, name="naive", kind=DeviceKind.CPU)
    device.created_at = datetime(2026, 1, 1)
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()


def test_session_scope_commits_or_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError), session_scope(db.factory) as s:
        devices.create_device(session=s, name="rolled-back", kind="gpu")
        raise RuntimeError("boom")
    with session_scope(db.factory) as s:
        devices.create_device(session=s, name="kept", kind="gpu")
    with session_scope(db.factory) as s:
        assert [d.name for d in devices.list_devices(session=s)] == ["kept"]


def test_sqlite_runs_wal_with_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/sub/dir/x.sqlite3")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar_one() >= 1000
    engine.dispose()


def test_postgresql_url_selects_psycopg() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/test")
    assert engine.dialect.driver == "psycopg"
    assert engine.pool._pre_ping
    engine.dispose()


def test_a_postgresql_engine_from_settings_pools_as_set() -> None:
    """The API's pool covers its threadpool: connections are kept, not opened per request."""
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/test",
        database_pool_size=7,
        database_pool_overflow=3,
    )
    engine = make_engine(settings)
    assert (engine.pool.size(), engine.pool._max_overflow) == (7, 3)  # type: ignore[attr-defined]
    engine.dispose()


def test_ids_are_unique_and_sort_by_creation() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 26 for i in ids)
