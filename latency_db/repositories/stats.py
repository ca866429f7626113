"""Counts for monitoring: how many rows of a table are in each state."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

E = TypeVar("E", bound=Enum)


def count_by_state(*, session: Session, state: InstrumentedAttribute[E]) -> dict[E, int]:
    """Rows per value of the ``state`` column (``ProfilingJob.state``, ...); absent values
    are absent from the answer."""
    rows = session.execute(select(state, func.count()).group_by(state))
    return {value: count for value, count in rows}
