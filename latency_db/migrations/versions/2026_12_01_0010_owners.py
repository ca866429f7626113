"""Owners (issue 12): a device belongs to the user who registered it, and an uploaded
artifact to each user who uploaded its bytes. Devices from before have no owner: an admin's.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place, without a foreign key (see ``Device.owner_id``): batch mode would
    # rebuild ``devices`` on SQLite, and dropping it deletes every row hanging off a device.
    op.add_column("devices", sa.Column("owner_id", sa.String(length=26), nullable=True))
    op.create_index(op.f("ix_devices_owner_id"), "devices", ["owner_id"], unique=False)
    op.create_table(
        "artifact_uploads",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["artifacts.sha256"],
            name=op.f("fk_artifact_uploads_sha256_artifacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_artifact_uploads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sha256", "user_id", name=op.f("pk_artifact_uploads")),
    )
    op.create_index(
        op.f("ix_artifact_uploads_user_id"), "artifact_uploads", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_artifact_uploads_user_id"), table_name="artifact_uploads")
    op.drop_table("artifact_uploads")
    op.drop_index(op.f("ix_devices_owner_id"), table_name="devices")
    op.drop_column("devices", "owner_id")
