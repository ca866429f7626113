"""Explicit OpenAPI operationIds: each operation named after its route function, unique."""

from __future__ import annotations

from collections import Counter

from fastapi.testclient import TestClient


def test_operation_ids_are_the_route_names_and_unique(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ids = [
        operation["operationId"]
        for path in schema["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert [name for name, n in Counter(ids).items() if n > 1] == []
    assert all(name.isidentifier() and name.islower() for name in ids), ids
    paths = schema["paths"]
    assert paths["/v1/devices"]["get"]["operationId"] == "list_devices"
    assert paths["/v1/jobs"]["post"]["operationId"] == "submit_job"
    assert paths["/v1/searches/{search_id}/result"]["get"]["operationId"] == "search_result"
