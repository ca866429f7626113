"""Drift (issue 16 item 4): sentinel jobs and measurements, the speed-index series, each
measurement's speed index, drift-normalized predictor fits, and the agent process session
that tells a restart.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JOB_KINDS = ("op", "network", "model", "layers")
_SUBJECT_KINDS = ("op", "network", "model")
_ACTIVE = "kind {} AND state IN ('queued', 'leased')"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _one_active_index(where: str) -> None:
    op.create_index(
        "uq_profiling_jobs_one_active_op",
        "profiling_jobs",
        ["device_id", "runtime_config_id", "subject", "batch_size"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def _kinds(job_kinds: Sequence[str], subject_kinds: Sequence[str], active: str) -> None:
    """Swap the kind CHECKs and the one-active-job index (batch mode rebuilds on SQLite)."""
    op.drop_index("uq_profiling_jobs_one_active_op", table_name="profiling_jobs")
    with op.batch_alter_table("profiling_jobs") as batch:
        batch.drop_constraint(op.f("ck_profiling_jobs_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_profiling_jobs_kind"), _in("kind", job_kinds))
    _one_active_index(active)
    with op.batch_alter_table("measurements") as batch:
        batch.drop_constraint(op.f("ck_measurements_subject_kind"), type_="check")
        batch.create_check_constraint(
            op.f("ck_measurements_subject_kind"), _in("subject_kind", subject_kinds)
        )


def upgrade() -> None:
    _kinds(
        (*_JOB_KINDS, "sentinel"),
        (*_SUBJECT_KINDS, "sentinel"),
        _ACTIVE.format("IN ('op', 'sentinel')"),
    )
    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("speed_index", sa.Double(), nullable=True))
    with op.batch_alter_table("predictor_fits") as batch:
        batch.add_column(
            sa.Column("normalize_drift", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("session_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("session_started_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "speed_samples",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("runtime_config_id", sa.String(length=26), nullable=False),
        sa.Column("measurement_id", sa.String(length=26), nullable=False),
        sa.Column("sentinel_ms", sa.Double(), nullable=False),
        sa.Column("reference_ms", sa.Double(), nullable=False),
        sa.Column("speed_index", sa.Double(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "sentinel_ms > 0 AND reference_ms > 0",
            name=op.f("ck_speed_samples_medians_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_speed_samples_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["measurement_id"],
            ["measurements.id"],
            name=op.f("fk_speed_samples_measurement_id_measurements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["runtime_config_id"],
            ["runtime_configs.id"],
            name=op.f("fk_speed_samples_runtime_config_id_runtime_configs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speed_samples")),
        sa.UniqueConstraint("measurement_id", name=op.f("uq_speed_samples_measurement_id")),
    )
    op.create_index(
        "ix_speed_samples_series",
        "speed_samples",
        ["device_id", "runtime_config_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_speed_samples_series", table_name="speed_samples")
    op.drop_table("speed_samples")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("session_started_at")
        batch.drop_column("session_id")
    with op.batch_alter_table("predictor_fits") as batch:
        batch.drop_column("normalize_drift")
    with op.batch_alter_table("measurements") as batch:
        batch.drop_column("speed_index")
    op.execute("DELETE FROM measurements WHERE subject_kind = 'sentinel'")
    op.execute("DELETE FROM profiling_jobs WHERE kind = 'sentinel'")
    _kinds(_JOB_KINDS, _SUBJECT_KINDS, _ACTIVE.format("= 'op'"))
