"""Teams and device shares (issue 12): a device's owner shares it with a team explicitly.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _reference(column: str, table: str, owner: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{table}.id"],
        name=op.f(f"fk_{owner}_{column}_{table}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        _created(),
        _reference("team_id", "teams", "team_members"),
        _reference("user_id", "users", "team_members"),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    op.create_index(op.f("ix_team_members_user_id"), "team_members", ["user_id"], unique=False)
    op.create_table(
        "device_shares",
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("team_id", sa.String(length=26), nullable=False),
        _created(),
        _reference("device_id", "devices", "device_shares"),
        _reference("team_id", "teams", "device_shares"),
        sa.PrimaryKeyConstraint("device_id", "team_id", name=op.f("pk_device_shares")),
    )
    op.create_index(op.f("ix_device_shares_team_id"), "device_shares", ["team_id"], unique=False)


def downgrade() -> None:
    op.drop_table("device_shares")
    op.drop_table("team_members")
    op.drop_table("teams")
