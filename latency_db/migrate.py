"""Alembic migrations driven from code: ``upgrade``, ``downgrade``, ``current``.

Each takes a database URL or an engine. Alembic is configured programmatically with the
package's ``migrations`` folder, so an installed wheel migrates without an alembic.ini.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL, Connection

from latency_db.db import make_engine
from latency_db.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """A Config pointing at the packaged scripts, carrying ``connection`` for env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def _connected(target: str | URL | Engine) -> Iterator[Connection]:
    """One transaction on ``target``. On SQLite, foreign keys are off while it runs: batch
    mode rebuilds a table by dropping it, which would otherwise cascade to (or be refused
    by) the rows that reference it; ``foreign_key_check`` must then find nothing wrong
    before the transaction commits (SQLite's procedure for schema changes, "Making Other
    Kinds Of Table Schema Changes" in its ALTER TABLE documentation)."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                _sqlite_foreign_keys(connection, enabled=False)
            try:
                with connection.begin():
                    yield connection
                    if sqlite:
                        _check_foreign_keys(connection)
            finally:
                if sqlite:
                    _sqlite_foreign_keys(connection, enabled=True)
    finally:
        if engine is not target:
            engine.dispose()


def _sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    """Set on the driver's connection, outside SQLAlchemy's transaction: the PRAGMA has no
    effect inside one."""
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the SQLite connection is closed")
    driver.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:5]}")


def _run(target: str | URL | Engine, action: Callable[[Config], None]) -> None:
    with _connected(target) as connection:
        action(alembic_config(connection))


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Migrate forward to ``revision`` (idempotent at head)."""
    _run(target, lambda config: command.upgrade(config, revision))


def downgrade(target: str | URL | Engine, revision: str = "base") -> None:
    """Migrate back to ``revision`` (``base`` drops every table)."""
    _run(target, lambda config: command.downgrade(config, revision))


def current(target: str | URL | Engine) -> str | None:
    """The revision the database is at, or None for an unmigrated database."""
    with _connected(target) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m latency_db.migrate {upgrade,downgrade,current} [--url URL] [--revision R]``.

    The URL defaults to the settings' database (``HWNAS_DATABASE_URL`` or the embedded file).
    """
    parser = argparse.ArgumentParser(prog="python -m latency_db.migrate", description=main.__doc__)
    parser.add_argument("action", choices=["upgrade", "downgrade", "current"])
    parser.add_argument("--url", help="database URL (default: from HWNAS_ settings)")
    parser.add_argument("--revision", help="target revision (default: head / base)")
    args = parser.parse_args(argv)
    url = args.url or get_settings().effective_database_url
    if args.action == "upgrade":
        upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        downgrade(url, args.revision or "base")
    print(current(url) or "base")


if __name__ == "__main__":
    main()
