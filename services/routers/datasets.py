"""Datasets a search may name: admins register and remove them (a root folder on the workers'
side); every user lists them by name. A search never carries a path from a user (issue 12)."""

from __future__ import annotations

from fastapi import APIRouter

from services import datasets as service
from services.deps import CurrentAdmin, CurrentUser, SessionDep
from services.schemas.datasets import DatasetCreate, DatasetOut

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post("", status_code=201, response_model=DatasetOut)
def register_dataset(body: DatasetCreate, session: SessionDep, admin: CurrentAdmin) -> DatasetOut:
    """Register a dataset by name at a root folder the workers can read (admins only)."""
    created = service.register(session=session, body=body, admin=admin)
    session.commit()
    return created


@router.get("", response_model=list[DatasetOut])
def list_datasets(session: SessionDep, user: CurrentUser) -> list[DatasetOut]:
    """The datasets a search may name: the bundled one, then the registered ones by name."""
    return service.listing(session=session, viewer=user)


@router.delete("/{name}", response_model=DatasetOut)
def remove_dataset(name: str, session: SessionDep, admin: CurrentAdmin) -> DatasetOut:
    """Forget a registered dataset (admins only); searches that named it keep their folder."""
    removed = service.remove(session=session, name=name, admin=admin)
    session.commit()
    return removed
