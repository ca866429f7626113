"""Few-shot transfer (issue 11): a fit request may name the source predictor versions
(other devices' ``lut``/``linear`` tables of the same space) its ``linear`` fit starts from.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("predictor_fits") as batch:
        batch.add_column(
            sa.Column(
                "source_predictor_ids", sa.JSON(), server_default=sa.text("'[]'"), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("predictor_fits") as batch:
        batch.drop_column("source_predictor_ids")
