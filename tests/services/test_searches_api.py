"""Search API on the real app (SQLite, embedded broker): validation names the field,
users see only their own searches, events page, cancel and resume follow the state machine."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from latency_db.db import session_scope
from latency_db.repositories import searches as search_repo
from latency_db.repositories import users as user_repo

from .conftest import BOTH_DATABASES, Measured

DEPLOY = {"deploy_resolution": 32, "deploy_width": 0.35, "deploy_classes": 10, "deploy_batch": 32}


def body(measured: Measured, **changes: Any) -> dict[str, Any]:
    config = {**DEPLOY, "steps": 10, "warmup_steps": 2, **changes.pop("config", {})}
    return {
        "device_id": measured.device_id,
        "budget_ms": 20.0,
        "estimator": "proxyless",
        "config": config,
    } | changes


def submit(client: TestClient, measured: Measured, **changes: Any) -> dict[str, Any]:
    reply = client.post("/v1/searches", json=body(measured, **changes))
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def test_submit_uses_the_devices_lut_when_no_predictor_is_fitted(
    client: TestClient, measured: Measured
) -> None:
    search = submit(client, measured)
    assert search["state"] == "pending" and search["space_ref"] == measured.space.ref
    assert search["latency_model"]["kind"] == "lut" and "params" not in search["latency_model"]
    assert search["runtime_config_id"] == measured.runtime_config_id
    assert search["spec"]["steps"] == 10 and search["spec"]["objective"] == "val"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"device_id": "nope"}, "device_id"),
        ({"budget_ms": 0}, "budget_ms"),
        ({"budget_ms": -3}, "budget_ms"),
        ({"estimator": "magic"}, "estimator"),
        ({"estimator": "unas", "config": {"latency_form": "mul_log"}}, "config.latency_form"),
        ({"config": {"steps": 0}}, "config.steps"),
        ({"config": {"baseline_decay": 1.0}}, "config.baseline_decay"),
        ({"config": {"rebar_scale": -1}}, "config.rebar_scale"),
        ({"config": {"gen_weight": "lots"}}, "config.gen_weight"),
        ({"config": {"space": "nope"}}, "config"),
        ({"config": {"learning_rate": 1}}, "config.learning_rate"),
        ({"config": {"predictor_id": "missing"}}, "config.predictor_id"),
        ({"config": {"deploy_resolution": 64}}, "device_id"),  # no LUT at that shape
    ],
)
def test_bad_submissions_are_422_naming_the_field(
    client: TestClient, measured: Measured, changes: dict[str, Any], field: str
) -> None:
    reply = client.post("/v1/searches", json=body(measured, **changes))
    assert reply.status_code == 422, reply.text
    error = reply.json()
    assert error["code"] == "invalid"
    assert any(d["field"].startswith(field) for d in error["details"]), error


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_users_see_only_their_own_searches(client: TestClient, measured: Measured) -> None:
    mine = submit(client, measured)
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        other = user_repo.create_user(session=session, name="other")
        _, token = user_repo.issue_api_token(session=session, user=other, label="t")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/v1/searches/{mine['id']}", headers=headers).status_code == 404
    assert client.post(f"/v1/searches/{mine['id']}/cancel", headers=headers).status_code == 404
    assert client.get("/v1/searches", headers=headers).json() == []
    assert client.get("/v1/searches", headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_list_pages_and_filters(client: TestClient, measured: Measured) -> None:
    ids = [submit(client, measured)["id"] for _ in range(3)]
    first = client.get("/v1/searches", params={"limit": 2}).json()
    rest = client.get("/v1/searches", params={"limit": 2, "offset": 2}).json()
    assert [s["id"] for s in first + rest] == ids[::-1]
    assert client.get("/v1/searches", params={"state": "running"}).json() == []
    unas = submit(client, measured, estimator="unas", config={"latency_form": "hinge"})["id"]

    def listed(**query: str) -> list[str]:
        reply = client.get("/v1/searches", params=query)
        assert reply.status_code == 200, reply.text
        return [s["id"] for s in reply.json()]

    assert listed(estimator="unas") == [unas]
    assert listed(estimator="proxyless", device_id=measured.device_id) == ids[::-1]
    assert listed(device_id="another-device") == []
    assert client.get("/v1/searches", params={"estimator": "magic"}).status_code == 422


def test_events_page_in_order_and_result_waits_for_the_end(
    client: TestClient, measured: Measured
) -> None:
    search_id = submit(client, measured)["id"]
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        row = search_repo.get_search(session=session, search_id=search_id)
        for step in range(5):
            search_repo.add_search_event(
                session=session, search=row, step=step, kind="step", payload={"step": step}
            )
    early = client.get(f"/v1/searches/{search_id}/result")
    assert early.status_code == 409 and early.json()["code"] == "not_finished"
    page = client.get(f"/v1/searches/{search_id}/events", params={"after": 2, "limit": 2}).json()
    assert [e["step"] for e in page] == [2, 3]
    empty = client.get(f"/v1/searches/{search_id}/events", params={"after": 5, "wait": 1}).json()
    assert empty == []


def test_cancel_pending_then_resume_is_refused(client: TestClient, measured: Measured) -> None:
    search_id = submit(client, measured)["id"]
    canceled = client.post(f"/v1/searches/{search_id}/cancel").json()
    assert canceled["state"] == "canceled"
    assert client.post(f"/v1/searches/{search_id}/cancel").json()["state"] == "canceled"
    assert client.post(f"/v1/searches/{search_id}/resume").status_code == 409
    assert client.get(f"/v1/searches/{search_id}/result").json()["state"] == "canceled"


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_resume_is_refused_while_the_worker_beats(client: TestClient, measured: Measured) -> None:
    search_id = submit(client, measured)["id"]
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    stale_s = client.app.state.settings.search_stale_seconds  # type: ignore[attr-defined]
    with session_scope(factory) as session:  # a worker claims segment 0
        row = search_repo.get_search(session=session, search_id=search_id)
        token = search_repo.claim_segment(
            session=session, search=row, segment=0, stale_after_seconds=stale_s
        )
    refused = client.post(f"/v1/searches/{search_id}/resume")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "search_running"
    assert "running on a live worker" in refused.json()["message"]
    with session_scope(factory) as session:
        row = search_repo.get_search(session=session, search_id=search_id)
        assert row.state.value == "running" and row.claim_token == token  # unchanged
        row.updated_at -= timedelta(seconds=stale_s + 1)  # the worker went silent
    resumed = client.post(f"/v1/searches/{search_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "resuming"


def test_cancel_of_a_resuming_search_ends_it_at_once(
    client: TestClient, measured: Measured
) -> None:
    """No worker holds a resuming search (its message may be lost): cancel ends it now."""
    search_id = submit(client, measured)["id"]
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        row = search_repo.get_search(session=session, search_id=search_id)
        for state in ("running", "resuming"):
            search_repo.transition_search(session=session, search=row, state=state)
    reply = client.post(f"/v1/searches/{search_id}/cancel")
    assert reply.status_code == 200 and reply.json()["state"] == "canceled", reply.text
    assert client.get(f"/v1/searches/{search_id}").json()["finished_at"] is not None


def test_non_finite_numbers_in_the_config_are_422(client: TestClient, measured: Measured) -> None:
    """JSON's ``Infinity``/``NaN`` tokens never reach a stored spec."""
    for token in ("Infinity", "NaN"):
        text = json.dumps(body(measured)).replace('"steps": 10', f'"tau_start": {token}')
        reply = client.post(
            "/v1/searches", content=text, headers={"Content-Type": "application/json"}
        )
        assert reply.status_code == 422, reply.text
        assert any(d["field"] == "config.tau_start" for d in reply.json()["details"])


def test_the_events_long_poll_documents_its_429(client: TestClient) -> None:
    route = client.get("/openapi.json").json()["paths"]["/v1/searches/{search_id}/events"]
    refused = route["get"]["responses"]["429"]
    assert refused["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert "too_many_waits" in refused["description"]
