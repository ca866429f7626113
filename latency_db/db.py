"""Engines, sessions and the database clock.

SQLite (the embedded default) runs in WAL mode with foreign keys on, and every transaction
starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout instead of
failing when a read snapshot turns stale. PostgreSQL connections are pre-pinged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from latency_db.settings import Settings

SQLITE_BUSY_TIMEOUT_S = 30
_NOW_KEY = "hwnas.db_now"  # session.info: (the transaction, its database time)


def database_url(settings_or_url: Settings | str | URL) -> URL:
    """The URL to connect to; a bare ``postgresql://`` selects psycopg 3."""
    if isinstance(settings_or_url, Settings):
        settings_or_url = settings_or_url.effective_database_url
    url = make_url(settings_or_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def make_engine(settings_or_url: Settings | str | URL, **kwargs: Any) -> Engine:
    """An engine set up for its backend (see the module docstring); from settings, a
    PostgreSQL engine's pool has the settings' size."""
    url = database_url(settings_or_url)
    if url.get_backend_name() != "sqlite":
        if isinstance(settings_or_url, Settings):
            kwargs.setdefault("pool_size", settings_or_url.database_pool_size)
            kwargs.setdefault("max_overflow", settings_or_url.database_pool_overflow)
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        **kwargs,
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (responses are built after it)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ensure_schema(engine: Engine) -> None:
    """Migrate an embedded SQLite database to head; require head elsewhere.

    A server database is migrated by its operator (``python -m latency_db.migrate upgrade``),
    never behind their back.
    """
    from latency_db import migrate  # migrate builds on make_engine above

    if engine.dialect.name == "sqlite":
        migrate.upgrade(engine)
        return
    have, head = migrate.current(engine), migrate.head_revision()
    if have != head:
        raise RuntimeError(
            f"database {engine.url.render_as_string(hide_password=True)} is at revision "
            f"{have or 'none'}, code expects {head}: run the migrations first "
            "(python -m latency_db.migrate upgrade --url URL)"
        )


def db_now(session: Session) -> datetime:
    """The database's clock, as an aware UTC datetime: every lease and heartbeat uses it.

    One reading per transaction on both backends, as PostgreSQL's ``now()`` is the start of
    the current transaction: the clock is read on the first call and remembered for the rest
    of the transaction, so a request's decisions share one time and cost one round trip. A
    query that already ran in the transaction may have read it on the way
    (``clock_column``, ``remember_clock``): then no round trip at all.
    """
    remembered = _remembered_clock(session)
    if remembered is not None:
        return remembered
    return remember_clock(session, session.execute(select(clock_column(session))).scalar_one())


def clock_column(session: Session) -> ColumnElement[Any]:
    """The database clock as a column to add to a query; its value goes to
    ``remember_clock``."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", "now")
    return func.now()


def remember_clock(session: Session, value: datetime | str) -> datetime:
    """Keep ``value`` (read by ``clock_column`` in the open transaction) as this
    transaction's ``db_now``, unless one is remembered already; the transaction's time."""
    remembered = _remembered_clock(session)
    if remembered is not None:
        return remembered
    if isinstance(value, str):  # SQLite's text
        now = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    else:
        now = value.astimezone(timezone.utc)
    session.info[_NOW_KEY] = (session.get_transaction(), now)
    return now


def _remembered_clock(session: Session) -> datetime | None:
    """The clock remembered for the open transaction, if any."""
    transaction = session.get_transaction()
    remembered = session.info.get(_NOW_KEY)
    if transaction is not None and remembered is not None and remembered[0] is transaction:
        return remembered[1]
    return None
