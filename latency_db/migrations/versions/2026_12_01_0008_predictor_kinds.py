"""Predictor kinds (issue 11): ``gbdt`` versions, and fit requests of ``gbdt`` or ``auto``
(the kind chosen by cross-validation on the training split).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("lut", "linear", "mlp")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _kinds(predictor_kinds: Sequence[str], fit_kinds: Sequence[str]) -> None:
    """Swap the kind CHECKs of versions and fit requests (batch mode rebuilds on SQLite)."""
    for table, kinds in (("predictors", predictor_kinds), ("predictor_fits", fit_kinds)):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_kind"), _in("kind", kinds))


def upgrade() -> None:
    _kinds((*_KINDS, "gbdt"), (*_KINDS, "gbdt", "auto"))


def downgrade() -> None:
    op.execute("DELETE FROM predictor_fits WHERE kind IN ('gbdt', 'auto')")
    op.execute("DELETE FROM predictors WHERE kind = 'gbdt'")
    _kinds(_KINDS, _KINDS)
