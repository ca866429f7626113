"""When the broker message of queued work was last sent (``enqueued_at``), so the API's
reconciler can re-send what a broker loss dropped (NULL: never sent, e.g. the broker was down
at submit).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("profiling_jobs", "searches", "predictor_fits")
AWAITING_EXPORT = "state = 'queued' AND artifact_sha256 IS NULL"


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_profiling_jobs_awaiting_export",
        "profiling_jobs",
        ["enqueued_at"],
        unique=False,
        sqlite_where=sa.text(AWAITING_EXPORT),
        postgresql_where=sa.text(AWAITING_EXPORT),
    )


def downgrade() -> None:
    op.drop_index("ix_profiling_jobs_awaiting_export", table_name="profiling_jobs")
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("enqueued_at")
