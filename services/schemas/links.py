"""OpenAPI links: from an answer that creates a resource to the operations that take its id,
so generated clients and stateful fuzzers (schemathesis) can follow them."""

from __future__ import annotations

from typing import Any


def links_from(
    status: int, parameter: str, pointer: str, *operation_ids: str
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: its ``status`` answer links each operation's
    ``parameter`` to the JSON pointer ``pointer`` of the body (e.g. ``/device/id``)."""
    value = f"$response.body#{pointer}"
    return {
        status: {
            "links": {
                operation: {"operationId": operation, "parameters": {parameter: value}}
                for operation in operation_ids
            }
        }
    }
