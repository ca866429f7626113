"""Measurement verdicts (issue 16): the agent's interference evidence, the verdict with its
reason, figure and threshold, and the 95% confidence interval of the median; the verdicts a
predictor version was trained on and a fit request may include.

Rows recorded before verdicts: ``unstable`` (the CV flag) ones become ``unstable``, the others
``clean`` with reason "recorded before verdicts"; their interval is left null. Predictor
versions fitted before verdicts were trained on every measurement, whatever its verdict.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOOKUP_COLUMNS = ["device_id", "runtime_config_id", "subject_kind", "subject", "batch_size"]
_NEW_COLUMNS = ("evidence", "verdict_detail", "verdict", "median_ci_high_ms", "median_ci_low_ms")
_ALL_VERDICTS = '["clean", "unstable", "disturbed"]'


def upgrade() -> None:
    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("median_ci_low_ms", sa.Double(), nullable=True))
        batch.add_column(sa.Column("median_ci_high_ms", sa.Double(), nullable=True))
        batch.add_column(sa.Column("verdict", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("verdict_detail", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE measurements SET verdict = 'unstable', "
        'verdict_detail = \'{"reason": "CV above 5%, recorded before verdicts", '
        '"figure": null, "threshold": 0.05, "tries": null}\', evidence = \'{}\' '
        "WHERE unstable"
    )
    op.execute(
        "UPDATE measurements SET verdict = 'clean', "
        'verdict_detail = \'{"reason": "recorded before verdicts", "figure": null, '
        '"threshold": null, "tries": null}\', evidence = \'{}\' WHERE NOT unstable'
    )
    op.drop_index("ix_measurements_lookup", table_name="measurements")
    with op.batch_alter_table("measurements") as batch:
        batch.alter_column("verdict", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("verdict_detail", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("evidence", existing_type=sa.JSON(), nullable=False)
        batch.create_check_constraint(
            op.f("ck_measurements_verdict"), "verdict IN ('clean', 'unstable', 'disturbed')"
        )
    op.create_index(
        "ix_measurements_lookup",
        "measurements",
        [*_LOOKUP_COLUMNS, "verdict", "created_at"],
        unique=False,
    )
    for table, column, value in (
        ("predictors", "training_verdicts", _ALL_VERDICTS),
        ("predictor_fits", "include_verdicts", '["clean"]'),
    ):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.JSON(), nullable=True))
        op.execute(f"UPDATE {table} SET {column} = '{value}'")
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    for table, column in (
        ("predictor_fits", "include_verdicts"),
        ("predictors", "training_verdicts"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
    op.drop_index("ix_measurements_lookup", table_name="measurements")
    with op.batch_alter_table("measurements") as batch:
        batch.drop_constraint(op.f("ck_measurements_verdict"), type_="check")
        for column in _NEW_COLUMNS:
            batch.drop_column(column)
    op.create_index(
        "ix_measurements_lookup",
        "measurements",
        [*_LOOKUP_COLUMNS, "created_at"],
        unique=False,
    )
