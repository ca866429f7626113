"""``hwnas device health`` and ``GET /v1/devices/{id}/health`` (issue 16 item 4): an agent's
claims through the API get the sentinel first and again after a restart; the series, the
measurements' speed index and the PNG, on the embedded database and through the API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli.main import app

from .conftest import RUNTIME

runner = CliRunner()
pytestmark = pytest.mark.sentinel  # these tests follow the sentinel schedule


class ApiAgent:
    """An agent speaking the wire protocol through the test client, one process session."""

    def __init__(self, client: TestClient, credential: str, session_id: str) -> None:
        self.client, self.session_id = client, session_id
        self.headers = {"Authorization": f"Bearer {credential}"}

    def run_next(self, median_ms: float) -> dict[str, Any]:
        claimed = self.client.post(
            "/v1/agents/claim", params={"session_id": self.session_id}, headers=self.headers
        )
        assert claimed.status_code == 200, claimed.text
        body = claimed.json()
        done = self.client.post(
            "/v1/leases/complete",
            json={"idempotency_key": body["job"]["id"], "times_ms": [median_ms] * 5},
            headers={**self.headers, "Lease-Token": body["lease_token"]},
        )
        assert done.status_code == 200, done.text
        return {**body["job"], "measurement": done.json()}


def _model_job(client: TestClient, device_id: str, tiny_onnx: Path) -> None:
    uploaded = client.post("/v1/artifacts", params={"name": "tiny"}, content=tiny_onnx.read_bytes())
    assert uploaded.status_code == 201, uploaded.text
    body = {
        "device_id": device_id,
        "runtime": RUNTIME,
        "kind": "model",
        "artifact_sha256": uploaded.json()["sha256"],
    }
    assert client.post("/v1/jobs", json=body).status_code == 201


def test_sentinel_series_and_health(served: TestClient, tiny_onnx: Path, tmp_path: Path) -> None:
    created = served.post("/v1/devices", json={"name": "box", "kind": "cpu"}).json()
    device_id = created["device"]["id"]
    enrolled = served.post(
        "/v1/agents/enroll",
        json={
            "enrollment_token": created["enrollment"]["token"],
            "name": "a",
            "backend": "ort-cpu",
        },
        headers={"Authorization": ""},
    ).json()
    agent = ApiAgent(served, enrolled["credential"], "process-one")
    _model_job(served, device_id, tiny_onnx)
    sentinel = agent.run_next(20.0)
    assert (sentinel["kind"], sentinel["measurement"]["subject_kind"]) == ("sentinel", "sentinel")
    model = agent.run_next(5.0)
    assert model["kind"] == "model" and model["measurement"]["speed_index"] == 1.0

    time.sleep(0.01)  # the restarted process starts strictly after the last sentinel
    restarted = ApiAgent(served, enrolled["credential"], "process-two")
    _model_job(served, device_id, tiny_onnx)
    assert restarted.run_next(25.0)["kind"] == "sentinel"  # 25 % slower than the reference
    later = restarted.run_next(6.25)
    assert later["kind"] == "model" and later["measurement"]["speed_index"] == pytest.approx(0.8)

    png = tmp_path / "health.png"
    result = runner.invoke(app, ["device", "health", "box", "--json", "--plot", str(png)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [p["sentinel_ms"] for p in report["points"]] == [20.0, 25.0]
    assert [p["speed_index"] for p in report["points"]] == pytest.approx([1.0, 0.8])
    assert [p["reference_ms"] for p in report["points"]] == [20.0, 20.0]
    config_id = report["points"][0]["runtime_config_id"]
    assert report["current"] == {config_id: pytest.approx(0.8)}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and report["plot"] == str(png)
    assert served.get(f"/v1/devices/{device_id}/health").json() == {
        key: value for key, value in report.items() if key != "plot"
    }
    table = runner.invoke(app, ["device", "health", "box"])
    assert table.exit_code == 0 and "current speed index" in table.output and "0.8" in table.output


def test_health_of_a_device_without_sentinels_and_bad_input(served: TestClient) -> None:
    created = served.post("/v1/devices", json={"name": "quiet", "kind": "cpu"}).json()
    device_id = created["device"]["id"]
    empty = runner.invoke(app, ["device", "health", "quiet"])
    assert empty.exit_code == 0 and "no sentinel measured yet" in empty.output
    assert served.get(f"/v1/devices/{device_id}/health").json()["points"] == []
    unknown = runner.invoke(app, ["device", "health", "nope"])
    assert unknown.exit_code == 2 and "device 'nope' not found" in unknown.output
    assert served.get("/v1/devices/nope/health").status_code == 404
    bad = served.get(f"/v1/devices/{device_id}/health", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.text
    enrolled = served.post(
        "/v1/agents/enroll",
        json={
            "enrollment_token": created["enrollment"]["token"],
            "name": "a",
            "backend": "ort-cpu",
        },
        headers={"Authorization": ""},
    ).json()
    for session_id in ("short", "has spaces in it", "x" * 65):
        refused = served.post(
            "/v1/agents/claim",
            params={"session_id": session_id},
            headers={"Authorization": f"Bearer {enrolled['credential']}"},
        )
        assert refused.status_code == 422 and "session_id" in refused.text
    assert served.get("/v1/jobs", params={"device_id": device_id}).json() == []
