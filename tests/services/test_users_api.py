"""Users and API tokens: an admin creates users, a user manages only their own tokens, a
revoked token is 401."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import BOTH_DATABASES

pytestmark = pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)


def test_users_tokens_and_revocation(client: TestClient) -> None:
    created = client.post("/v1/users", json={"name": "ana"})
    assert created.status_code == 201, created.text
    first = created.json()
    ana = {"Authorization": f"Bearer {first['token']}"}
    assert client.get("/v1/users/me", headers=ana).json()["name"] == "ana"
    assert client.post("/v1/users", json={"name": "bob"}, headers=ana).status_code == 403
    assert client.post("/v1/users", json={"name": "ana"}).status_code == 409
    assert client.post("/v1/users", json={"name": "no spaces"}).status_code == 422
    second = client.post("/v1/tokens", json={"label": "laptop"}, headers=ana).json()
    listed = client.get("/v1/tokens", headers=ana).json()
    assert {t["label"] for t in listed} == {"first", "laptop"}
    assert all("token" not in t and second["token"] not in str(t) for t in listed)
    admin_tokens = {t["id"] for t in client.get("/v1/tokens").json()}
    assert client.delete(f"/v1/tokens/{second['details']['id']}").status_code == 404
    assert second["details"]["id"] not in admin_tokens
    revoked = client.delete(f"/v1/tokens/{second['details']['id']}", headers=ana)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    gone = {"Authorization": f"Bearer {second['token']}"}
    assert client.get("/v1/users/me", headers=gone).status_code == 401
    assert client.get("/v1/users/me", headers=ana).status_code == 200
