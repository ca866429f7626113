"""Helpers shared by the repository modules: lookups, input checks, conflict-safe inserts."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from latency_db.errors import Conflict, NotFound, ValidationError

T = TypeVar("T")
E = TypeVar("E", bound=Enum)


def get_or_not_found(session: Session, model: type[T], key: str, what: str) -> T:
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"{what} {key!r} not found")
    return row


def add_or_conflict(session: Session, row: object, message: str) -> None:
    """Insert ``row`` in a savepoint; a unique-constraint clash becomes ``Conflict``."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


def insert_or_existing(session: Session, row: T, existing: Callable[[], T | None]) -> T:
    """Insert ``row`` in a savepoint; if a concurrent writer inserted the same key first,
    return what ``existing`` finds instead."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        found = existing()
        if found is None:
            raise
        return found
    return row


def parse_enum(values: type[E], value: object, field: str) -> E:
    """``value`` as a member of ``values``, or ``ValidationError`` listing the allowed ones."""
    if isinstance(value, values):
        return value
    try:
        return values(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in values)
        raise ValidationError(f"{field} must be one of {allowed}, not {value!r}") from None


def check_json(value: Any, field: str) -> None:
    """``value`` must serialize as strict JSON (no NaN/inf, plain types only)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field} is not valid JSON: {exc}") from None


def check_name(value: str, field: str, max_length: int) -> str:
    name = value.strip()
    if not name:
        raise ValidationError(f"{field} must not be empty")
    if len(name) > max_length:
        raise ValidationError(f"{field} is longer than {max_length} characters")
    return name


def check_positive_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(f"{field} must be a positive integer, not {value!r}")
    return value


def check_shape(value: Sequence[object], field: str = "input_shape") -> list[int]:
    """A tensor shape: a non-empty list of positive integers."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ValidationError(f"{field} must be a non-empty list of positive integers")
    return [check_positive_int(v, f"{field}[{i}]") for i, v in enumerate(value)]


def check_finite(value: float, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{field} must be a finite number, not {value!r}")
    return float(value)
