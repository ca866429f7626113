"""The JSON the API answers with, as the resource classes hand it on, and finding a row by
name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hwnas.errors import HwnasError

Json = dict[str, Any]
JsonList = list[Json]  # ``list`` is a method name in the resource classes


def by_name(rows: Iterable[Json], name: str, what: str) -> Json:
    """The row whose ``name`` is ``name``; :class:`HwnasError` "<what> 'name' not found"."""
    for row in rows:
        if row["name"] == name:
            return row
    raise HwnasError(f"{what} {name!r} not found")
