"""Registered datasets (issue 12): a search names one; only an admin sets its root folder.
Searches stored with a dataset path keep it as ``config.dataset_root``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_searches = sa.table("searches", sa.column("id", sa.String), sa.column("config", sa.JSON))


def _configs() -> list[tuple[str, dict[str, object]]]:
    return [
        tuple(row) for row in op.get_bind().execute(sa.select(_searches.c.id, _searches.c.config))
    ]


def _store(search_id: str, config: dict[str, object]) -> None:
    op.get_bind().execute(
        _searches.update().where(_searches.c.id == search_id).values(config=config)
    )


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_datasets")),
    )
    for search_id, config in _configs():
        spec = dict(config.get("spec", {}))  # type: ignore[call-overload]
        if spec.get("dataset") is not None:
            _store(
                search_id,
                {**config, "spec": {**spec, "dataset": None}, "dataset_root": spec["dataset"]},
            )


def downgrade() -> None:
    for search_id, config in _configs():
        if "dataset_root" in config:
            kept = {k: v for k, v in config.items() if k != "dataset_root"}
            spec = {**kept.get("spec", {}), "dataset": config["dataset_root"]}  # type: ignore[dict-item]
            _store(search_id, {**kept, "spec": spec})
    op.drop_table("datasets")
