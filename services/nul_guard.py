"""NUL characters are refused in every path, query and JSON body value: PostgreSQL text cannot
hold them, so a query carrying one would fail; the API answers 422 naming where it was."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi import Request

from services.validation import invalid

NUL = "\x00"
PROBLEM = "must not contain NUL (\\u0000) characters"


def nul_location(value: Any, path: str = "") -> str | None:
    """The dotted path (``config.dataset``, ``architectures.3``) of the first string or key
    in ``value`` that holds a NUL; None when there is none."""
    if isinstance(value, str):
        return path if NUL in value else None
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if NUL in str(key):
            return where
        found = nul_location(item, where)
        if found is not None:
            return found
    return None


async def reject_nul(request: Request) -> None:
    """Router dependency: 422 for a NUL in a path parameter, a query parameter or a string of
    a JSON body (looked for only when the raw body holds the escape ``\\u0000``). Every body
    is looked at, whatever its content type says: FastAPI reads a body without one, or with
    ``Application/JSON``, as JSON too."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if NUL in name or NUL in str(value):
            raise invalid(name, PROBLEM)
    body = await request.body()
    if b"\\u0000" not in body:
        return
    try:
        where = nul_location(json.loads(body))
    except ValueError:  # not JSON after all: the route's own parsing answers for it
        return
    if where is not None:
        raise invalid(where or "body", PROBLEM)
