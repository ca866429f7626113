"""Predictor fits (asynchronous fit requests); predictors record their batch size and the
holdout calibration data.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("predictors") as batch:
        batch.add_column(sa.Column("batch_size", sa.Integer(), server_default="32", nullable=False))
        batch.add_column(sa.Column("calibration", sa.JSON(), nullable=True))
        batch.create_check_constraint(op.f("ck_predictors_batch_size_positive"), "batch_size > 0")
    op.create_table(
        "predictor_fits",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("runtime_config_id", sa.String(length=26), nullable=False),
        sa.Column("space_ref", sa.String(length=128), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("holdout_fraction", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("predictor_id", sa.String(length=26), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('lut', 'linear', 'mlp')", name=op.f("ck_predictor_fits_kind")),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_predictor_fits_state"),
        ),
        sa.CheckConstraint("batch_size > 0", name=op.f("ck_predictor_fits_batch_size_positive")),
        sa.CheckConstraint(
            "holdout_fraction >= 0 AND holdout_fraction < 1",
            name=op.f("ck_predictor_fits_holdout_fraction_range"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_predictor_fits_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["predictor_id"],
            ["predictors.id"],
            name=op.f("fk_predictor_fits_predictor_id_predictors"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["runtime_config_id"],
            ["runtime_configs.id"],
            name=op.f("fk_predictor_fits_runtime_config_id_runtime_configs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictor_fits")),
    )
    op.create_index(
        op.f("ix_predictor_fits_device_id"), "predictor_fits", ["device_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_predictor_fits_device_id"), table_name="predictor_fits")
    op.drop_table("predictor_fits")
    with op.batch_alter_table("predictors") as batch:
        batch.drop_constraint(op.f("ck_predictors_batch_size_positive"), type_="check")
        batch.drop_column("calibration")
        batch.drop_column("batch_size")
