"""Datasets a search may name, as the API and the local CLI answer them: the bundled one
first, then the registered ones; the root folder shown to admins only (issue 12)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from latency_db.models import Dataset, User
from latency_db.repositories import datasets as dataset_repo
from latency_db.search_spec import BUNDLED_DATASET
from services.schemas.datasets import DatasetCreate, DatasetOut

BUNDLED_DESCRIPTION = "bundled: 10 Tiny ImageNet classes, 64x64 (500 train + 50 val each)"


def dataset_out(row: Dataset, viewer: User) -> DatasetOut:
    return DatasetOut(
        name=row.name,
        description=row.description,
        root=row.root if viewer.is_admin else None,
        created_at=row.created_at,
    )


def register(*, session: Session, body: DatasetCreate, admin: User) -> DatasetOut:
    row = dataset_repo.register_dataset(
        session=session, name=body.name, root=body.root, description=body.description
    )
    return dataset_out(row, admin)


def listing(*, session: Session, viewer: User) -> list[DatasetOut]:
    bundled = DatasetOut(
        name=dataset_repo.BUNDLED_NAME,
        description=BUNDLED_DESCRIPTION,
        root=str(BUNDLED_DATASET) if viewer.is_admin else None,
        bundled=True,
    )
    rows = dataset_repo.list_datasets(session=session)
    return [bundled, *(dataset_out(row, viewer) for row in rows)]


def remove(*, session: Session, name: str, admin: User) -> DatasetOut:
    return dataset_out(dataset_repo.remove_dataset(session=session, name=name), admin)
