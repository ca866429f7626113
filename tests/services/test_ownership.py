"""Every device, and what hangs off it, has an owner (issue 12): other users get 404, admins
see all; only the owner issues enrollment tokens; an agent reads only the artifacts of its
own leases; one agent's credential can be disabled or rotated, and a disabled device's agents
no longer authenticate."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from latency_db.db import session_scope
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import runtime_configs as runtime_repo

from .conftest import BOTH_DATABASES, RUNTIME, app_sessions, queue_op_job

ARCH = " ".join(["k3_e6"] * 21)
SPACE_REF = "proxyless-r224-w1-c1000"


def _user(client: TestClient, name: str) -> dict[str, str]:
    token = client.post("/v1/users", json={"name": name}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _device(client: TestClient, name: str, headers: dict[str, str] | None = None) -> str:
    created = client.post("/v1/devices", json={"name": name, "kind": "cpu"}, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["device"]["id"])


def _measure(client: TestClient, device_id: str) -> str:
    with session_scope(app_sessions(client)) as session:
        device = device_repo.get_device(session=session, device_id=device_id)
        runtime = runtime_repo.get_or_create_runtime_config(
            session=session, backend="ort-cpu", settings={"threads": 1}
        )
        row = measurement_repo.add_measurement(
            session=session,
            device=device,
            runtime_config=runtime,
            subject_kind="op",
            subject="k",
            batch_size=1,
            input_shape=[1, 3, 8, 8],
            times_ms=[1.0, 1.1],
            environment={},
            source="local",
        )
        return row.id


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_other_users_get_404_for_a_device_and_what_hangs_off_it(
    client: TestClient, test_data: Path
) -> None:
    """Bob issued a token for the admin's device (201), canceled its job (200) and imported
    a table into it (200)."""
    bob = _user(client, "bob")
    admins = _device(client, "admins")
    bobs = _device(client, "bobs", bob)
    submitted = client.post(
        "/v1/jobs",
        json={
            "device_id": admins,
            "runtime": RUNTIME,
            "kind": "network",
            "space_ref": SPACE_REF,
            "architecture": ARCH,
        },
    )
    assert submitted.status_code == 201, submitted.text
    job = submitted.json()
    measurement_id = _measure(client, admins)

    assert [d["id"] for d in client.get("/v1/devices", headers=bob).json()] == [bobs]
    assert {d["id"] for d in client.get("/v1/devices").json()} == {admins, bobs}
    bob_id = client.get("/v1/users/me", headers=bob).json()["id"]
    assert client.get(f"/v1/devices/{bobs}").json()["owner_id"] == bob_id
    lut = {"device_id": admins, "space_ref": SPACE_REF}
    for method, path, kwargs in [
        ("GET", f"/v1/devices/{admins}", {}),
        ("POST", f"/v1/devices/{admins}/enrollment-tokens", {}),
        ("POST", f"/v1/devices/{admins}/state", {"json": {"state": "disabled"}}),
        ("GET", f"/v1/devices/{admins}/agents", {}),
        ("GET", f"/v1/devices/{admins}/health", {}),
        ("GET", f"/v1/jobs/{job['id']}", {}),
        ("POST", f"/v1/jobs/{job['id']}/cancel", {}),
        ("GET", "/v1/jobs", {"params": {"device_id": admins}}),
        ("GET", f"/v1/measurements/{measurement_id}", {}),
        ("GET", "/v1/measurements", {"params": {"device_id": admins}}),
        ("GET", "/v1/lookup-tables", {"params": lut}),
        ("GET", "/v1/predictors", {"params": {"device_id": admins}}),
        (
            "POST",
            "/v1/jobs",
            {
                "json": {
                    "device_id": admins,
                    "runtime": RUNTIME,
                    "kind": "network",
                    "space_ref": SPACE_REF,
                    "architecture": ARCH,
                }
            },
        ),
        (
            "POST",
            "/v1/lookup-tables/import",
            {
                "json": {
                    "text": (test_data / "proxylessnas_mobile_trim.yaml").read_text(),
                    "device": "admins",
                }
            },
        ),
        (
            "POST",
            "/v1/measurements/import",
            {
                "json": {
                    "text": f"arch,latency_ms\n{ARCH},3.0\n",
                    "device": "admins",
                    "source_name": "bob's",
                }
            },
        ),
    ]:
        reply = client.request(method, path, headers=bob, **kwargs)
        assert reply.status_code == 404, (method, path, reply.text)
    assert client.get("/v1/jobs", headers=bob).json() == []
    assert client.get("/v1/measurements", headers=bob).json() == []
    assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "queued"
    assert client.get(f"/v1/devices/{admins}").json()["state"] == "active"
    assert len(client.get("/v1/measurements", params={"device_id": admins}).json()) == 1

    imported = client.post(
        "/v1/measurements/import",
        json={
            "text": f"arch,latency_ms\n{ARCH},3.0\n",
            "device": "bobs-phone",
            "source_name": "bob's",
        },
        headers=bob,
    )
    assert imported.status_code == 200, imported.text
    assert {d["name"] for d in client.get("/v1/devices", headers=bob).json()} == {
        "bobs",
        "bobs-phone",
    }
    token = client.post(f"/v1/devices/{bobs}/enrollment-tokens", headers=bob)
    assert token.status_code == 201
    assert client.post(f"/v1/devices/{bobs}/enrollment-tokens").status_code == 201  # admin


def _enroll(client: TestClient, device_id: str, headers: dict[str, str] | None = None) -> Any:
    token = client.post(f"/v1/devices/{device_id}/enrollment-tokens", headers=headers).json()
    body = {"enrollment_token": token["token"], "name": "agent", "backend": "ort-cpu"}
    credential = client.post("/v1/agents/enroll", json=body).json()["credential"]
    return {"Authorization": f"Bearer {credential}"}


def test_agents_read_only_the_artifacts_of_their_leases_and_users_their_own(
    client: TestClient, lease: dict[str, Any], tiny_onnx: Path
) -> None:
    """An agent of one device downloaded another device's model (200)."""
    mine = hashlib.sha256(b"op-a").hexdigest()  # the lease fixture's job
    bob = _user(client, "bob")
    bobs = _device(client, "bobs", bob)
    other = queue_op_job(client, bobs, "op-b")
    bobs_agent = _enroll(client, bobs, bob)
    assert client.get(f"/v1/artifacts/{mine}", headers=lease["headers"]).status_code == 200
    for reader, sha256 in [(lease["headers"], other), (bobs_agent, mine), (bob, mine)]:
        assert client.get(f"/v1/artifacts/{sha256}", headers=reader).status_code == 404
        assert client.get(f"/v1/artifacts/{sha256}/content", headers=reader).status_code == 404
    assert client.get(f"/v1/artifacts/{other}", headers=bobs_agent).status_code == 404  # unleased
    assert client.get(f"/v1/artifacts/{other}", headers=bob).status_code == 200  # bob's device
    assert client.get(f"/v1/artifacts/{other}").status_code == 200  # admin

    done = {"idempotency_key": "k", "times_ms": [2.0, 2.1]}
    reply = client.post("/v1/leases/complete", json=done, headers=lease["lease_headers"])
    assert reply.status_code == 200
    assert client.get(f"/v1/artifacts/{mine}", headers=lease["headers"]).status_code == 404

    upload = client.post(
        "/v1/artifacts",
        params={"name": "tiny"},
        content=tiny_onnx.read_bytes(),
        headers={**bob, "Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 201, upload.text
    uploaded = upload.json()["sha256"]
    assert client.get(f"/v1/artifacts/{uploaded}", headers=bob).status_code == 200
    model_job = {"device_id": bobs, "runtime": RUNTIME, "kind": "model"}
    refused = client.post("/v1/jobs", json={**model_job, "artifact_sha256": mine}, headers=bob)
    assert refused.status_code == 404, refused.text
    accepted = client.post("/v1/jobs", json={**model_job, "artifact_sha256": uploaded}, headers=bob)
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_one_agent_is_disabled_or_rotated_and_a_disabled_device_stops_its_agents(
    client: TestClient, lease: dict[str, Any]
) -> None:
    (device,) = client.get("/v1/devices").json()
    (agent,) = client.get(f"/v1/devices/{device['id']}/agents").json()
    bob = _user(client, "bob")

    def beat(headers: dict[str, str]) -> int:
        return client.post("/v1/agents/heartbeat", json={}, headers=headers).status_code

    assert client.post(f"/v1/agents/{agent['id']}/credential", headers=bob).status_code == 404
    state = f"/v1/agents/{agent['id']}/state"
    assert client.post(state, json={"state": "disabled"}, headers=bob).status_code == 404
    assert beat(lease["headers"]) == 200

    rotated = client.post(f"/v1/agents/{agent['id']}/credential")
    assert rotated.status_code == 201, rotated.text
    fresh = {"Authorization": f"Bearer {rotated.json()['credential']}"}
    assert (beat(lease["headers"]), beat(fresh)) == (401, 200)

    assert client.post(state, json={"state": "disabled"}).json()["state"] == "disabled"
    assert beat(fresh) == 401
    assert client.post(state, json={"state": "online"}).status_code == 200
    assert beat(fresh) == 200

    device_state = f"/v1/devices/{device['id']}/state"
    assert client.post(device_state, json={"state": "disabled"}).status_code == 200
    assert beat(fresh) == 401
    assert client.post("/v1/agents/claim", headers=fresh).status_code == 401
    assert client.post(device_state, json={"state": "active"}).status_code == 200
    assert beat(fresh) == 200
