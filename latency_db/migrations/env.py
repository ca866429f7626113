"""Alembic environment: migrates the connection ``latency_db.migrate`` hands over.

Configured in code (no alembic.ini); SQLite gets batch mode so later ALTERs work there.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from latency_db.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use latency_db.migrate")
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through latency_db.migrate, which passes a connection")
run_migrations(connection)
