"""Registered datasets (issue 12): only an admin names a folder; users name datasets, never
paths, and never learn where a dataset lives; a search stores the root its name resolved to."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from latency_db.db import session_scope
from latency_db.repositories import searches as search_repo
from latency_db.search_spec import BUNDLED_DATASET
from services.cli.main import app

from .conftest import BOTH_DATABASES, Measured
from .test_searches_api import body

ROOT = "/srv/datasets/imagenet-100"


def _bob(client: TestClient) -> dict[str, str]:
    token = client.post("/v1/users", json={"name": "bob"}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_admins_register_datasets_and_users_see_names_only(client: TestClient) -> None:
    bob = _bob(client)
    dataset = {"name": "imagenet-100", "root": ROOT, "description": "100 classes"}
    assert client.post("/v1/datasets", json=dataset, headers=bob).status_code == 403
    created = client.post("/v1/datasets", json=dataset)
    assert created.status_code == 201 and created.json()["root"] == ROOT
    assert client.post("/v1/datasets", json=dataset).status_code == 409
    bundled = {**dataset, "name": BUNDLED_DATASET.name}
    assert client.post("/v1/datasets", json=bundled).status_code == 409
    for bad, field in (({"root": "relative/dir"}, "root"), ({"name": "../etc"}, "name")):
        refused = client.post("/v1/datasets", json={**dataset, **bad})
        assert refused.status_code == 422, refused.text
        assert any(d["field"] == field for d in refused.json()["details"])

    seen_by_bob = client.get("/v1/datasets", headers=bob).json()
    assert [d["name"] for d in seen_by_bob] == [BUNDLED_DATASET.name, "imagenet-100"]
    assert {d["root"] for d in seen_by_bob} == {None} and ROOT not in json.dumps(seen_by_bob)
    assert client.get("/v1/datasets").json()[1]["root"] == ROOT  # the admin sees it

    assert client.delete("/v1/datasets/imagenet-100", headers=bob).status_code == 403
    assert client.delete("/v1/datasets/imagenet-100").status_code == 200
    assert client.delete("/v1/datasets/imagenet-100").status_code == 404
    assert [d["name"] for d in client.get("/v1/datasets").json()] == [BUNDLED_DATASET.name]


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_a_search_names_a_dataset_and_never_a_path(client: TestClient, measured: Measured) -> None:
    for dataset, message in (("/etc/train", "should match pattern"), ("missing", "unknown")):
        refused = client.post("/v1/searches", json=body(measured, config={"dataset": dataset}))
        assert refused.status_code == 422, refused.text
        (detail,) = refused.json()["details"]
        assert detail["field"] == "config.dataset" and message in detail["problem"]
    assert "does not exist" not in refused.text  # nothing on the worker's disk is probed

    client.post("/v1/datasets", json={"name": "imagenet-100", "root": ROOT})
    bob = _bob(client)
    submitted = client.post(
        "/v1/searches", json=body(measured, config={"dataset": "imagenet-100"}), headers=bob
    )
    assert submitted.status_code == 422  # bob cannot see the admin's device
    search = client.post("/v1/searches", json=body(measured, config={"dataset": "imagenet-100"}))
    assert search.status_code == 201, search.text
    assert search.json()["spec"]["dataset"] == "imagenet-100" and ROOT not in search.text
    default = client.post("/v1/searches", json=body(measured)).json()
    sessions = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(sessions) as session:
        stored = {
            s.id: s.config["dataset_root"] for s in search_repo.list_searches(session=session)
        }
    assert stored == {search.json()["id"]: ROOT, default["id"]: str(BUNDLED_DATASET)}


def test_dataset_commands_on_both_paths(served: TestClient) -> None:
    runner = CliRunner()

    def invoke(*args: str) -> str:
        reply = runner.invoke(app, ["dataset", *args], env={"COLUMNS": "200"})
        assert reply.exit_code == 0, reply.output
        return reply.output

    added = json.loads(invoke("add", "imagenet-100", ROOT, "--description", "100", "--json"))
    assert added["root"] == ROOT
    listed = json.loads(invoke("list", "--json"))["datasets"]
    assert [d["name"] for d in listed] == [BUNDLED_DATASET.name, "imagenet-100"]
    assert ROOT in invoke("list")
    assert "imagenet-100 removed" in invoke("remove", "imagenet-100")
    for args, message in (
        (["add", "x", "relative"], "dataset root"),
        (["add", "Bad/Name", ROOT], "dataset name"),
        (["remove", "imagenet-100"], "dataset 'imagenet-100' not found"),
    ):
        reply = runner.invoke(app, ["dataset", *args])
        assert reply.exit_code == 2 and reply.output.startswith("error: "), reply.output
        assert message in reply.output, reply.output
    assert [d["name"] for d in served.get("/v1/datasets").json()] == [BUNDLED_DATASET.name]
