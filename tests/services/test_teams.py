"""Teams (issue 12): a device is seen by its owner, the admins and the members of the teams
its owner shares it with, explicitly; members use it, only the owner manages it."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hwnas import Client, HwnasError
from services.cli.main import app

from .conftest import BOTH_DATABASES


def _user(client: TestClient, name: str) -> dict[str, str]:
    token = client.post("/v1/users", json={"name": name}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_a_device_shared_with_a_team_is_seen_and_used_by_its_members_only(
    client: TestClient,
) -> None:
    bob, carol, dave = (_user(client, n) for n in ("bob", "carol", "dave"))
    created = client.post("/v1/devices", json={"name": "bobs-cpu", "kind": "cpu"}, headers=bob)
    device_id = created.json()["device"]["id"]
    device = f"/v1/devices/{device_id}"
    assert client.get(device, headers=carol).status_code == 404

    team = client.post("/v1/teams", json={"name": "vision"}, headers=bob).json()
    assert team["members"] == ["bob"]
    members = f"/v1/teams/{team['id']}/members"
    assert client.post(members, json={"user": "carol"}, headers=carol).status_code == 404
    assert client.post(members, json={"user": "carol"}, headers=bob).json()["members"] == [
        "bob",
        "carol",
    ]
    assert client.get(device, headers=carol).status_code == 404  # a team is not a share

    shares = f"{device}/shares"
    assert client.post(shares, json={"team_id": team["id"]}, headers=carol).status_code == 404
    shared = client.post(shares, json={"team_id": team["id"]}, headers=bob)
    assert shared.status_code == 200 and shared.json()["teams"] == ["vision"]

    assert client.get(device, headers=carol).status_code == 200
    assert [d["name"] for d in client.get("/v1/devices", headers=carol).json()] == ["bobs-cpu"]
    jobs = client.get("/v1/jobs", params={"device_id": device_id}, headers=carol)
    assert jobs.status_code == 200 and client.get(f"{device}/agents", headers=carol).is_success
    for path, body in (
        (f"{device}/enrollment-tokens", None),
        (f"{device}/state", {"state": "disabled"}),
        (shares, {"team_id": team["id"]}),
    ):
        refused = client.post(path, json=body, headers=carol)
        assert refused.status_code == 403 and "only the owner" in refused.json()["message"]
    assert client.get(device, headers=dave).status_code == 404
    assert client.get("/v1/devices", headers=dave).json() == []
    assert [t["name"] for t in client.get("/v1/teams").json()] == ["vision"]  # the admin's
    assert client.get("/v1/teams", headers=dave).json() == []

    unshared = client.delete(f"{shares}/{team['id']}", headers=bob)
    assert unshared.status_code == 200 and unshared.json()["teams"] == []
    assert client.get(device, headers=carol).status_code == 404
    removed = client.delete(f"{members}/carol", headers=bob)
    assert removed.json()["members"] == ["bob"]
    assert client.post("/v1/teams", json={"name": "vision"}, headers=dave).status_code == 409


def test_team_and_share_commands_on_both_paths(served: TestClient) -> None:
    runner = CliRunner()

    def invoke(*args: str) -> str:
        reply = runner.invoke(app, list(args), env={"COLUMNS": "200"})
        assert reply.exit_code == 0, reply.output
        return reply.output

    assert served.post("/v1/users", json={"name": "carol"}).status_code == 201
    team = json.loads(invoke("team", "add", "vision", "--json"))
    assert json.loads(invoke("team", "add-member", "vision", "carol", "--json"))["members"] == [
        "admin",
        "carol",
    ]
    assert "carol" in invoke("team", "list")
    invoke("device", "add", "d1", "--kind", "cpu")
    shared = json.loads(invoke("device", "share", "d1", "--team", "vision", "--json"))
    assert shared["teams"] == ["vision"]
    assert "no team" in invoke("device", "unshare", "d1", "--team", "vision")
    left = json.loads(invoke("team", "remove-member", "vision", "carol", "--json"))
    assert left["members"] == ["admin"] and left["id"] == team["id"]
    unknown = runner.invoke(app, ["device", "share", "d1", "--team", "nope"])
    assert unknown.exit_code == 2 and "team 'nope' not found" in unknown.output


def test_the_client_manages_datasets_teams_and_shares(api: Client) -> None:
    bundled = api.datasets.list()[0]["name"]
    registered = api.datasets.register("imagenet-100", "/srv/imagenet-100", "100 classes")
    assert registered["root"] == "/srv/imagenet-100"
    assert [d["name"] for d in api.datasets.list()] == [bundled, "imagenet-100"]
    assert api.datasets.remove("imagenet-100")["name"] == "imagenet-100"

    api.post("/users", {"name": "carol"})
    team = api.teams.create("vision")
    assert api.teams.find("vision")["id"] == team["id"]
    assert api.teams.add_member(team["id"], "carol")["members"] == ["admin", "carol"]
    device_id = api.devices.create("d1", "cpu")["device"]["id"]
    assert api.teams.share(device_id, team["id"])["teams"] == ["vision"]
    assert api.teams.unshare(device_id, team["id"])["teams"] == []
    assert api.teams.remove_member(team["id"], "carol")["members"] == ["admin"]
    with pytest.raises(HwnasError, match="team 'nope' not found"):
        api.teams.find("nope")
