"""An index in the claim's own order (issue 18): queued jobs of a device by ``priority DESC,
created_at, id``, so a claim reads the first row of an index scan instead of sorting the
device's queued jobs (the older ``ix_profiling_jobs_claim`` has ``priority`` ascending).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "state = 'queued'"


def upgrade() -> None:
    op.create_index(
        "ix_profiling_jobs_claim_order",
        "profiling_jobs",
        ["device_id", sa.literal_column("priority").desc(), "created_at", "id"],
        unique=False,
        sqlite_where=sa.text(QUEUED),
        postgresql_where=sa.text(QUEUED),
    )


def downgrade() -> None:
    op.drop_index("ix_profiling_jobs_claim_order", table_name="profiling_jobs")
