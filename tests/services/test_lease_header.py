"""Lease tokens travel in the ``Lease-Token`` header, never in a URL (issue 12): URLs land in
access logs. The agent's own client is driven against the real app in-process."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi.testclient import TestClient

from profiler_agent.client import ServerClient


def test_the_agent_sends_lease_tokens_in_a_header_only(
    client: TestClient, lease: dict[str, Any]
) -> None:
    urls: list[str] = []
    agent = ServerClient("http://testserver")
    agent._http.close()
    agent._http = TestClient(client.app, base_url="http://testserver")
    agent._http.event_hooks = {"request": [lambda request: urls.append(str(request.url))]}
    agent.set_credential(lease["headers"]["Authorization"].removeprefix("Bearer "))
    token = lease["token"]
    assert agent.renew(token)["state"] == "live"
    key = hashlib.sha256(token.encode()).hexdigest()
    stored = agent.complete(token, {"idempotency_key": key, "times_ms": [2.0, 2.1]})
    assert agent.complete(token, {"idempotency_key": key, "times_ms": [2.0, 2.1]}) == stored
    assert urls and not any(token in url for url in urls)

    in_path = client.post(f"/v1/leases/{token}/renew", headers=lease["headers"])
    assert in_path.status_code == 404
    missing = client.post("/v1/leases/renew", headers=lease["headers"])
    assert missing.status_code == 422 and missing.json()["details"][0]["field"] == (
        "header.Lease-Token"
    )
