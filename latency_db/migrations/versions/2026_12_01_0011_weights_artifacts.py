"""Weights artifacts (issue 13): a search's trained network as a weights file (architecture,
space instance and ``state_dict``) beside its ONNX and TorchScript exports.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _kinds(*kinds: str) -> None:
    """Swap the artifacts' kind CHECK (batch mode rebuilds the table on SQLite)."""
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_constraint(op.f("ck_artifacts_kind"), type_="check")
        batch.create_check_constraint(
            op.f("ck_artifacts_kind"), f"kind IN ({', '.join(repr(k) for k in kinds)})"
        )


def upgrade() -> None:
    _kinds("onnx", "torchscript", "weights")


def downgrade() -> None:
    op.execute("DELETE FROM artifacts WHERE kind = 'weights'")
    _kinds("onnx", "torchscript")
