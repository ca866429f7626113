"""Registered datasets: an admin names a root folder on the workers' side; a search names a
dataset and gets its root here. The bundled tiny-imagenet-10 is always there, by its name."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import Conflict, NotFound, ValidationError
from latency_db.models import Dataset
from latency_db.repositories.common import add_or_conflict, get_or_not_found
from latency_db.search_spec import BUNDLED_DATASET, DATASET_NAME_PATTERN

BUNDLED_NAME = BUNDLED_DATASET.name  # "tiny-imagenet-10"
NAME_PATTERN = re.compile(DATASET_NAME_PATTERN)
MAX_ROOT_CHARS = 4096


def register_dataset(*, session: Session, name: str, root: str, description: str = "") -> Dataset:
    """A dataset by ``name`` at ``root`` (absolute, as the workers see it); ``Conflict`` for
    a name taken, the bundled one's included."""
    if not NAME_PATTERN.match(name):
        raise ValidationError(f"dataset name {name!r}: lowercase letters, digits, '.', '_', '-'")
    if name == BUNDLED_NAME:
        raise Conflict(f"dataset {name!r} is the bundled one")
    if not root.startswith("/") or len(root) > MAX_ROOT_CHARS:
        raise ValidationError(
            f"dataset root must be an absolute path of at most {MAX_ROOT_CHARS} characters"
        )
    row = Dataset(name=name, root=root, description=description, created_at=db_now(session))
    add_or_conflict(session, row, f"dataset {name!r} already exists")
    return row


def list_datasets(*, session: Session) -> list[Dataset]:
    """Registered datasets by name (the bundled one is not a row)."""
    return list(session.scalars(select(Dataset).order_by(Dataset.name)))


def remove_dataset(*, session: Session, name: str) -> Dataset:
    """Forget a registered dataset; searches stored with its root keep it."""
    row = get_or_not_found(session, Dataset, name, "dataset")
    session.delete(row)
    return row


def dataset_root(*, session: Session, name: str | None) -> str:
    """The root folder of the named dataset (the bundled one when ``name`` is None)."""
    if name is None or name == BUNDLED_NAME:
        return str(BUNDLED_DATASET)
    row = session.get(Dataset, name)
    if row is None:
        known = [BUNDLED_NAME, *(d.name for d in list_datasets(session=session))]
        raise NotFound(f"unknown dataset {name!r}; registered: {', '.join(known)}")
    return row.root
