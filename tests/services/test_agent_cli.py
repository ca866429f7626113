"""``hwnas agent disable|enable|rotate`` on an embedded database and through the API: one
agent's credential stops working at once, and a rotated one replaces it (issue 12)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli.main import app

runner = CliRunner()


def _cli(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_disable_enable_and_rotate_one_agent(served: TestClient) -> None:
    token = served.post("/v1/devices", json={"name": "d", "kind": "cpu"}).json()["enrollment"]
    body = {"enrollment_token": token["token"], "name": "a", "backend": "ort-cpu"}
    enrolled = served.post("/v1/agents/enroll", json=body).json()

    def beat(credential: str) -> int:
        headers = {"Authorization": f"Bearer {credential}"}
        return served.post("/v1/agents/heartbeat", json={}, headers=headers).status_code

    assert _cli("agent", "disable", enrolled["agent_id"])["state"] == "disabled"
    assert beat(enrolled["credential"]) == 401
    assert _cli("agent", "enable", enrolled["agent_id"])["state"] == "online"
    assert beat(enrolled["credential"]) == 200
    rotated = _cli("agent", "rotate", enrolled["agent_id"])
    assert (beat(enrolled["credential"]), beat(rotated["credential"])) == (401, 200)
    missing = runner.invoke(app, ["agent", "disable", "no-such-agent"])
    assert missing.exit_code == 2 and "not found" in missing.output
    assert "Traceback" not in missing.output
