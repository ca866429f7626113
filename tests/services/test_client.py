"""``hwnas.Client`` against the real app in-process (devices, uploads, model jobs, errors),
its retries against a real HTTP peer that answers 503 first, and ``hwnas profile``'s refusals
(one line, exit 2, nothing queued)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hwnas import ApiRefused, Client, HwnasError, JobFailed, ServerUnreachable
from services import processes
from services.cli.main import app

from .conftest import ADMIN_TOKEN, BOTH_DATABASES, Measured

runner = CliRunner()


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_devices_upload_and_a_model_job(api: Client, tiny_onnx: Path) -> None:
    created = api.devices.create("edge-1", "cpu")
    device_id = created["device"]["id"]
    assert created["enrollment"]["token"]
    assert api.devices.find("edge-1")["id"] == device_id
    assert api.devices.resolve("edge-1") == api.devices.resolve(device_id) == device_id
    assert api.devices.agents(device_id) == []
    with pytest.raises(HwnasError, match="device 'nope' not found"):
        api.devices.find("nope")

    job = api.profile(tiny_onnx, device="edge-1")
    assert job.state == "queued" and job.job["input_shape"] == [2, 3, 16, 16]
    assert [j["id"] for j in api.jobs.list(device_id=device_id)] == [job.id]
    # No agent claims it: the wait ends at its deadline, naming the job.
    with pytest.raises(TimeoutError, match=f"job {job.id}"):
        job.wait(timeout_s=0.5)
    assert job.cancel()["state"] == "canceled"
    with pytest.raises(JobFailed, match="canceled"):
        job.result()

    with pytest.raises(ApiRefused) as missing:
        api.jobs.get("no-such-job")
    assert missing.value.status == 404 and missing.value.code == "not_found"


def test_an_unreachable_server_is_named() -> None:
    url = f"http://127.0.0.1:{processes.free_port()}"
    with (
        Client(url, "token", retries=0, timeout_s=5) as api,
        pytest.raises(ServerUnreachable) as err,
    ):
        api.devices.list()
    assert url in str(err.value) and "hwnas server" in str(err.value)


class FlakyPeer(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then a JSON object."""

    failures = 2
    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        self.seen.append(self.command)
        busy = len(self.seen) <= self.failures
        body = json.dumps({"code": "busy", "message": "later"} if busy else {"ok": True})
        self.send_response(503 if busy else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def flaky_peer() -> Iterator[str]:
    FlakyPeer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyPeer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def test_reads_are_retried_on_503_writes_are_not(flaky_peer: str) -> None:
    with Client(flaky_peer, "token", retries=3) as api:
        assert api.get("/anything") == {"ok": True}
        assert FlakyPeer.seen == ["GET"] * 3
        FlakyPeer.seen = []
        with pytest.raises(ApiRefused, match="503 busy"):
            api.post("/anything", {})  # not idempotent: one try, the server's answer
        assert FlakyPeer.seen == ["POST"]


def test_profile_refuses_bad_input_in_one_line(
    client: TestClient,
    local_cli: Path,
    cli_server: None,
    monkeypatch: pytest.MonkeyPatch,
    tiny_onnx: Path,
    tmp_path: Path,
) -> None:
    def profile(*args: str) -> str:
        reply = runner.invoke(app, ["profile", *args, "--timeout", "3"])
        assert reply.exit_code == 2, reply.output
        assert reply.output.startswith("error: ") and reply.output.count("\n") == 1, reply.output
        return reply.output

    monkeypatch.setenv("HWNAS_API_TOKEN", ADMIN_TOKEN)
    client.post("/v1/devices", json={"name": "edge-1", "kind": "cpu"})
    assert "no agent of device 'edge-1' runs it" in profile(str(tiny_onnx), "--device", "edge-1")
    assert "device 'nope' not found" in profile(str(tiny_onnx), "--device", "nope")
    assert "static input shape [2, 3, 16, 16]" in profile(
        str(tiny_onnx), "--device", "edge-1", "--batch", "8"
    )
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_bytes(b"not a model")
    assert "not a valid ONNX model" in profile(str(not_onnx), "--device", "edge-1")
    assert "cannot read" in profile(str(tmp_path / "missing.onnx"), "--device", "edge-1")
    assert client.get("/v1/jobs").json() == []  # nothing was queued
    monkeypatch.delenv("HWNAS_SERVER_URL")
    assert "needs a server" in profile(str(tiny_onnx), "--device", "edge-1")


def test_latency_data_through_the_client(api: Client, measured: Measured) -> None:
    space, device_id = measured.space, measured.device_id
    table = api.lookup_tables.get(device_id, space.ref, batch_size=32)
    assert table["entries"].keys() == measured.lut_ms.keys()
    arch = space.sample(3)
    (answer,) = api.lookup_tables.latency(device_id, space.ref, [space.format(arch)])
    expected = sum(measured.lut_ms[k] for k in space.op_keys(arch))
    assert answer["lut_ms"] == pytest.approx(expected) and answer["missing_keys"] == []
    networks = api.measurements.list(device_id=device_id, subject_kind="network", limit=5)
    assert len(networks) == 5
    assert api.measurements.get(networks[0]["id"])["times_ms"]
    assert api.predictors.list(device_id=device_id) == []
