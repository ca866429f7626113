"""Design section 8 over real HTTP: dead agents, concurrent claims, idempotent and late
uploads, credentials, bad timings and bad uploads.

Scripted agents speak the agent protocol with httpx against the real server process; the
dead-agent case uses real ``hwnas-agent`` processes.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from hwnas import ApiRefused

from .conftest import Stack, per_test_children


class ScriptedAgent:
    """An agent enrolled over HTTP whose every request the test writes by hand."""

    def __init__(self, url: str, enroll_token: str, name: str) -> None:
        self.http = httpx.Client(base_url=f"{url}/v1", timeout=30)
        reply = self.http.post(
            "/agents/enroll",
            json={"enrollment_token": enroll_token, "name": name, "backend": "ort-cpu"},
        )
        assert reply.status_code == 201, reply.text
        self.id = reply.json()["agent_id"]
        self.http.headers["Authorization"] = f"Bearer {reply.json()['credential']}"

    def claim(self) -> dict[str, Any] | None:
        reply = self.http.post("/agents/claim", params={"wait": 0})
        assert reply.status_code in (200, 204), reply.text
        return None if reply.status_code == 204 else dict(reply.json())

    def complete(self, lease_token: str, times_ms: list[float], key: str) -> httpx.Response:
        body = {"idempotency_key": key, "times_ms": times_ms, "environment": {"cpu_model": "x"}}
        return self.http.post(  # json.dumps writes NaN/Infinity as a careless agent would
            "/leases/complete",
            content=json.dumps(body),
            headers={"Content-Type": "application/json", "Lease-Token": lease_token},
        )


@pytest.fixture
def stack(module_stack: Stack) -> Iterator[Stack]:
    """One server per database for the module; each test makes its own devices."""
    yield from per_test_children(module_stack)


def _measurements(stack: Any, device_id: str) -> list[dict[str, Any]]:
    return list(stack.api().get("/measurements", device_id=device_id))


def test_a_dead_agents_job_is_re_leased_and_finished_by_another(
    stack, new_device, upload_model
) -> None:
    device_id, token = new_device("cpu-dead")
    slow = ["--warmup-runs", "2", "--warmup-seconds", "0", "--runs", "5", "--seconds", "600"]
    doomed = stack.start_agent("agent-doomed", token, *slow)
    job = stack.submit_model_job(device_id, upload_model()["sha256"])
    deadline = time.monotonic() + 60
    while stack.api().get(f"/jobs/{job['id']}")["state"] != "leased":
        assert time.monotonic() < deadline, doomed.log_tail()
        time.sleep(0.2)
    doomed.popen.kill()  # SIGKILL: no lease release, no goodbye
    doomed.popen.wait()
    second_token = stack.api().post(f"/devices/{device_id}/enrollment-tokens")["token"]
    stack.start_agent("agent-rescuer", second_token)
    done = stack.wait_job(job["id"], 120)
    assert done["state"] == "succeeded" and done["attempt"] == 2
    rescuer = next(
        a for a in stack.api().get(f"/devices/{device_id}/agents") if a["name"] == "agent-rescuer"
    )
    assert stack.measurement_of(done)["agent_id"] == rescuer["id"]


def test_the_same_upload_twice_writes_one_measurement(stack, new_device, upload_model) -> None:
    device_id, token = new_device("cpu-idem")
    agent = ScriptedAgent(stack.url, token, "scripted")
    job = stack.submit_model_job(device_id, upload_model()["sha256"])
    claim = agent.claim()
    assert claim is not None and claim["job"]["id"] == job["id"]
    first = agent.complete(claim["lease_token"], [1.0, 1.1, 0.9], "key-1")
    second = agent.complete(claim["lease_token"], [1.0, 1.1, 0.9], "key-1")
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert len(_measurements(stack, device_id)) == 1


def test_a_late_upload_from_an_expired_lease_is_refused(stack, new_device, upload_model) -> None:
    device_id, token = new_device("cpu-late")
    slowpoke = ScriptedAgent(stack.url, token, "slowpoke")
    job = stack.submit_model_job(device_id, upload_model()["sha256"])
    claim = slowpoke.claim()
    assert claim is not None
    time.sleep(claim["lease_s"] + 2.5)  # lease expires on the database clock; sweeper requeues
    assert stack.api().get(f"/jobs/{job['id']}")["state"] == "queued"
    late = slowpoke.complete(claim["lease_token"], [1.0, 1.2], "late")
    assert late.status_code == 409 and late.json()["code"] == "stale_lease"
    assert _measurements(stack, device_id) == []
    retry = slowpoke.claim()
    assert retry is not None and retry["job"]["attempt"] == 2


@pytest.mark.parametrize(
    "times_ms",
    [[1.0, math.nan], [1.0, -2.0], [], [1.0, math.inf]],
    ids=["nan", "neg", "empty", "inf"],
)
def test_bad_timings_are_refused_and_change_nothing(
    stack, new_device, upload_model, times_ms: list[float]
) -> None:
    device_id, token = new_device(f"cpu-bad-{uuid.uuid4().hex[:8]}")  # one per case
    agent = ScriptedAgent(stack.url, token, "bad")
    job = stack.submit_model_job(device_id, upload_model()["sha256"])
    claim = agent.claim()
    assert claim is not None
    reply = agent.complete(claim["lease_token"], times_ms, "k")
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == "invalid" and reply.json()["message"]
    assert stack.api().get(f"/jobs/{job['id']}")["state"] == "leased"
    assert _measurements(stack, device_id) == []


def test_credentials_are_checked(stack, new_device, upload_model) -> None:
    device_a, token_a = new_device("cpu-owner")
    _, token_b = new_device("cpu-other")
    owner = ScriptedAgent(stack.url, token_a, "owner")
    stranger = ScriptedAgent(stack.url, token_b, "stranger")
    stack.submit_model_job(device_a, upload_model()["sha256"])
    assert stranger.claim() is None  # another device's work is invisible
    claim = owner.claim()
    assert claim is not None
    stolen = stranger.complete(claim["lease_token"], [1.0], "steal")
    assert stolen.status_code == 403
    renew = stranger.http.post("/leases/renew", headers={"Lease-Token": claim["lease_token"]})
    assert renew.status_code == 403
    anonymous = httpx.post(f"{stack.url}/v1/agents/claim")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    forged = httpx.post(
        f"{stack.url}/v1/agents/claim", headers={"Authorization": "Bearer hwa_forged"}
    )
    assert forged.status_code == 401
    reused = httpx.post(
        f"{stack.url}/v1/agents/enroll",
        json={"enrollment_token": token_a, "name": "again", "backend": "ort-cpu"},
    )
    assert reused.status_code == 401 and reused.json()["code"] == "bad_token"  # one-time
    assert _measurements(stack, device_a) == []


def test_bad_uploads_are_refused(stack, tiny_onnx: Path, build_network, tmp_path: Path) -> None:
    def upload(data: bytes) -> httpx.Response:
        return httpx.post(
            f"{stack.url}/v1/artifacts",
            params={"name": "x"},
            content=data,
            headers={"Authorization": f"Bearer {stack.token}"},
        )

    oversized = upload(b"\0" * ((1 << 20) + 1))
    assert oversized.status_code == 413
    corrupt = upload(tiny_onnx.read_bytes()[:-200])
    assert corrupt.status_code == 422 and "ONNX" in corrupt.json()["message"]
    dynamic = upload(build_network(tmp_path / "dyn.onnx", batch="N").read_bytes())
    assert dynamic.status_code == 422 and "dynamic" in dynamic.json()["message"]
    with pytest.raises(ApiRefused) as unknown_device:
        stack.api().post("/jobs", {"device_id": "nope", "runtime": stack.runtime, "kind": "model"})
    assert unknown_device.value.status == 404


def test_concurrent_claims_give_one_lease_per_job(stack, new_device, upload_model) -> None:
    device_id, token = new_device("cpu-race")
    sha = upload_model()["sha256"]
    jobs = {stack.submit_model_job(device_id, sha)["id"] for _ in range(6)}
    agents = [
        ScriptedAgent(stack.url, token if i == 0 else _token(stack, device_id), f"r{i}")
        for i in range(4)
    ]
    racers = [agent for agent in agents for _ in range(2)]
    start = threading.Barrier(len(racers))

    def race(agent: ScriptedAgent) -> list[tuple[int, str]]:
        """Claim until the first answer that is not a lease; every answer's status and body
        (checked in the test's thread: an assertion here would only be a warning)."""
        start.wait(timeout=60)
        answers: list[tuple[int, str]] = []
        while not answers or answers[-1][0] == 200:
            reply = agent.http.post("/agents/claim", params={"wait": 0})
            answers.append((reply.status_code, reply.text))
        return answers

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        outcomes = [
            future.result(timeout=120)  # re-raises what a racer raised
            for future in [pool.submit(race, agent) for agent in racers]
        ]
    last = [answers[-1] for answers in outcomes]
    assert all(status == 204 for status, _ in last), last
    claimed = [
        json.loads(body)["job"]["id"]
        for answers in outcomes
        for status, body in answers
        if status == 200
    ]
    assert sorted(claimed) == sorted(jobs)


def _token(stack: Any, device_id: str) -> str:
    return str(stack.api().post(f"/devices/{device_id}/enrollment-tokens")["token"])


SLOW_POLICY = ("--warmup-runs", "2", "--warmup-seconds", "0", "--runs", "5", "--seconds", "600")


def _wait_state(stack: Any, job_id: str, state: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (job := stack.api().get(f"/jobs/{job_id}"))["state"] != state:
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return dict(job)


def test_cancel_reaches_the_agent_on_its_next_heartbeat(stack, new_device, upload_model) -> None:
    device_id, token = new_device("cpu-cancel")
    agent = stack.start_agent("agent-busy", token, *SLOW_POLICY)
    job = stack.submit_model_job(device_id, upload_model()["sha256"])
    _wait_state(stack, job["id"], "leased")
    stack.api().post(f"/jobs/{job['id']}/cancel")
    canceled = _wait_state(stack, job["id"], "canceled", timeout_s=30)
    assert canceled["cancel_requested"]
    deadline = time.monotonic() + 30
    while "abandoned" not in agent.log_path.read_text():
        assert time.monotonic() < deadline, agent.log_tail()
        time.sleep(0.2)
    assert _measurements(stack, device_id) == []


def test_sigterm_gives_the_lease_back(stack, new_device, upload_model) -> None:
    device_id, token = new_device("cpu-term")
    agent = stack.start_agent("agent-term", token, *SLOW_POLICY)
    job = stack.submit_model_job(device_id, upload_model()["sha256"])
    _wait_state(stack, job["id"], "leased")
    assert agent.stop(grace_s=20) == 0
    requeued = stack.api().get(f"/jobs/{job['id']}")
    assert requeued["state"] == "queued" and requeued["attempt"] == 1  # no attempt spent
