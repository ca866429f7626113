"""``hwnas device add|list|drain|activate|disable`` on an embedded database and through the
API: the same answers, and the printed enrollment token really enrolls an agent."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli.main import app

runner = CliRunner()


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_add_list_and_change_state(served: TestClient) -> None:
    created = _json(["device", "add", "pixel-7", "--kind", "phone"])
    device = created["device"]
    assert (device["name"], device["kind"], device["state"]) == ("pixel-7", "phone", "active")
    assert served.get(f"/v1/devices/{device['id']}").json()["name"] == "pixel-7"
    token = created["enrollment"]["token"]
    assert any(token in command for command in created["enrollment"]["commands"])
    enrolled = served.post(
        "/v1/agents/enroll",
        json={"enrollment_token": token, "name": "pixel-agent", "backend": "android-adb"},
        headers={"Authorization": ""},
    )
    assert enrolled.status_code == 201 and enrolled.json()["device_id"] == device["id"]

    shown = runner.invoke(app, ["device", "add", "jetson", "--kind", "gpu"])
    assert shown.exit_code == 0, shown.output
    jetson_token = next(line for line in shown.output.splitlines() if "token (shown once)" in line)
    assert jetson_token.split(": ")[1].startswith("hwe_")

    listed = _json(["device", "list"])["devices"]
    assert [d["name"] for d in listed] == ["jetson", "pixel-7"]
    assert [a["name"] for a in listed[1]["agents"]] == ["pixel-agent"]
    assert listed[1]["agents"][0]["state"] == "online"
    table = runner.invoke(app, ["device", "list"])
    assert table.exit_code == 0
    pixel_row = next(line for line in table.output.splitlines() if "pixel-7" in line)
    assert "phone" in pixel_row and "active" in pixel_row and "1 of 1" in pixel_row

    drained = runner.invoke(app, ["device", "drain", "pixel-7"])
    assert drained.exit_code == 0 and "device pixel-7: draining" in drained.output
    assert served.get(f"/v1/devices/{device['id']}").json()["state"] == "draining"
    assert _json(["device", "disable", "pixel-7"])["state"] == "disabled"
    assert _json(["device", "activate", "pixel-7"])["state"] == "active"
    assert served.get(f"/v1/devices/{device['id']}").json()["state"] == "active"


def test_bad_device_commands_fail_clearly(served: TestClient) -> None:
    assert runner.invoke(app, ["device", "add", "rpi", "--kind", "edge"]).exit_code == 0
    again = runner.invoke(app, ["device", "add", "rpi", "--kind", "edge"])
    assert again.exit_code == 2 and "'rpi' already exists" in again.output
    unknown = runner.invoke(app, ["device", "drain", "nope"])
    assert unknown.exit_code == 2 and "device 'nope' not found" in unknown.output
    toaster = runner.invoke(app, ["device", "add", "oven", "--kind", "toaster"])
    assert toaster.exit_code == 2
    assert "'toaster' is not one of" in toaster.output and "'phone'" in toaster.output
    bad_name = runner.invoke(app, ["device", "add", "bad name", "--kind", "cpu"])
    assert bad_name.exit_code == 2 and "error:" in bad_name.output and "name" in bad_name.output
    assert [d["name"] for d in served.get("/v1/devices").json()] == ["rpi"]
