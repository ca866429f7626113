"""``POST /v1/leases/complete-and-claim`` (issue 18): a result and the claim of the agent's
next job in one request and one transaction; and the agent's loop that uses it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from profiler_agent.backends import BackendSettings, create_backend
from profiler_agent.client import ServerClient
from profiler_agent.loop import Agent, AgentConfig

from ..profiler_agent.test_protocol import FAST
from .conftest import BOTH_DATABASES, queue_op_job

RESULT: dict[str, Any] = {"times_ms": [2.0, 2.1, 1.9, 2.05, 1.95]}


def _device_of(client: TestClient) -> str:
    """The device of the ``lease`` fixture's agent (the only one)."""
    return str(client.get("/v1/devices").json()[0]["id"])


def _job_states(client: TestClient) -> dict[str, str]:
    return {job["subject"]: job["state"] for job in client.get("/v1/jobs").json()}


def _complete_and_claim(
    client: TestClient, lease: dict[str, Any], token: str, key: str, **result: Any
) -> httpx.Response:
    return client.post(
        "/v1/leases/complete-and-claim",
        json={"idempotency_key": key, **RESULT, **result},
        headers={**lease["headers"], "Lease-Token": token},
    )


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_a_result_brings_the_next_jobs_lease(client: TestClient, lease: dict[str, Any]) -> None:
    device_id = _device_of(client)
    queue_op_job(client, device_id, "op-b")

    first = _complete_and_claim(client, lease, lease["token"], "k-a")
    assert first.status_code == 200, first.text
    stored, claimed = first.json()["measurement"], first.json()["next"]
    assert stored["median_ms"] == pytest.approx(2.0)
    assert claimed["job"]["subject"] == "op-b" and claimed["lease_s"] > 0
    assert _job_states(client) == {"op-a": "succeeded", "op-b": "leased"}
    # The lease it answered with is live: renewed and completed like any other.
    second = {**lease["headers"], "Lease-Token": claimed["lease_token"]}
    assert client.post("/v1/leases/renew", headers=second).json()["state"] == "live"
    last = _complete_and_claim(client, lease, claimed["lease_token"], "k-b")
    assert last.status_code == 200 and last.json()["next"] is None
    assert _job_states(client) == {"op-a": "succeeded", "op-b": "succeeded"}


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_a_result_sent_again_gets_the_lease_its_lost_answer_carried(
    client: TestClient, lease: dict[str, Any]
) -> None:
    queue_op_job(client, _device_of(client), "op-b")
    queue_op_job(client, _device_of(client), "op-c")

    lost = _complete_and_claim(client, lease, lease["token"], "k-a").json()
    again = _complete_and_claim(client, lease, lease["token"], "k-a")
    assert again.status_code == 200, again.text
    assert again.json()["measurement"] == lost["measurement"]
    reissued = again.json()["next"]
    assert reissued["job"] == lost["next"]["job"]  # the same job, no attempt spent
    assert reissued["lease_token"] != lost["next"]["lease_token"]
    assert _job_states(client) == {"op-a": "succeeded", "op-b": "leased", "op-c": "queued"}
    old = {**lease["headers"], "Lease-Token": lost["next"]["lease_token"]}
    assert client.post("/v1/leases/renew", headers=old).status_code == 404
    new = {**lease["headers"], "Lease-Token": reissued["lease_token"]}
    assert client.post("/v1/leases/renew", headers=new).json()["state"] == "live"


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_a_refused_result_leases_nothing(client: TestClient, lease: dict[str, Any]) -> None:
    device_id = _device_of(client)
    queue_op_job(client, device_id, "op-b")

    bad = _complete_and_claim(client, lease, lease["token"], "k-a", times_ms=[1.0, -1.0])
    assert bad.status_code == 422, bad.text
    unknown = _complete_and_claim(client, lease, "hwl_not-a-lease", "k-a")
    assert unknown.status_code == 404, unknown.text
    assert _job_states(client) == {"op-a": "leased", "op-b": "queued"}
    released = client.post(
        "/v1/leases/release", headers={**lease["headers"], "Lease-Token": lease["token"]}
    )
    assert released.status_code == 200
    stale = _complete_and_claim(client, lease, lease["token"], "k-a")
    assert stale.status_code == 409, stale.text
    assert _job_states(client) == {"op-a": "queued", "op-b": "queued"}


def _model_job(client: TestClient, device_id: str, sha256: str) -> str:
    body = {
        "device_id": device_id,
        "runtime": {"backend": "ort-cpu", "settings": {"threads": 1}},
        "kind": "model",
        "artifact_sha256": sha256,
    }
    reply = client.post("/v1/jobs", json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def test_the_agent_measures_job_after_job_and_gives_back_a_lease_taken_as_it_stops(
    client: TestClient, tmp_path: Path, tiny_onnx: Path
) -> None:
    """A real agent (ONNX Runtime) against the app: its first claim follows its first
    heartbeat's answer; each result brings the next job's lease; a stop that arrives while
    that answer is on its way gives the lease back."""
    created = client.post("/v1/devices", json={"name": "cpu-loop", "kind": "cpu"}).json()
    device_id = created["device"]["id"]
    uploaded = client.post("/v1/artifacts", params={"name": "tiny"}, content=tiny_onnx.read_bytes())
    assert uploaded.status_code == 201, uploaded.text
    job_ids = [_model_job(client, device_id, uploaded.json()["sha256"]) for _ in range(3)]

    config = AgentConfig(
        server_url="http://testserver",
        backend="ort-cpu",
        settings=BackendSettings(threads=1),
        data_dir=tmp_path / "agent",
        policy=FAST,
        heartbeat_s=60.0,
    )
    server = ServerClient(config.server_url)
    server._http.close()
    server._http = TestClient(client.app, base_url="http://testserver")
    token = created["enrollment"]["token"]
    enroll = {"enrollment_token": token, "name": "loop", "backend": "ort-cpu"}
    server.set_credential(client.post("/v1/agents/enroll", json=enroll).json()["credential"])
    agent = Agent(config, server, create_backend("ort-cpu"))
    paths: list[str] = []  # answered requests, in order
    sent_before_first_beat: list[str] = []

    def note_request(request: httpx.Request) -> None:
        if "/v1/agents/heartbeat" not in paths:
            sent_before_first_beat.append(request.url.path)

    def stop_after_two_results(response: httpx.Response) -> None:
        """The second result's answer arrives as the agent is told to stop."""
        paths.append(response.request.url.path)
        if paths.count("/v1/leases/complete-and-claim") == 2:
            agent.stopping.set()

    server._http.event_hooks = {"request": [note_request], "response": [stop_after_two_results]}
    agent.serve()

    jobs = {job_id: client.get(f"/v1/jobs/{job_id}").json() for job_id in job_ids}
    assert [jobs[j]["state"] for j in job_ids] == ["succeeded", "succeeded", "queued"]
    assert jobs[job_ids[2]]["attempt"] == 1  # given back, not expired: no attempt spent
    assert paths.count("/v1/agents/claim") == 1  # the first job only: the others came along
    assert paths[-1] == "/v1/leases/release"
    assert sent_before_first_beat == ["/v1/agents/heartbeat"]  # the first claim came after
    digest = hashlib.sha256(tiny_onnx.read_bytes()).hexdigest()
    assert uploaded.json()["sha256"] == digest
