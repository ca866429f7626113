"""The dashboard's guards on the real app (in-process, SQLite and PostgreSQL): the session
cookie a user token opens (and an agent credential does not), the form token on every POST,
no redirect off the site, a revoked token signed out, another user's search not found, and
the server-sent events of a search."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from latency_db.db import session_scope
from latency_db.repositories import searches as search_repo
from services.long_polls import server_stopping
from services.ui.fleet_pages import SPARK_HEIGHT, SPARK_WIDTH, speed_paths
from services.ui.search_pages import STREAM_WAIT_S
from services.ui.session import COOKIE, form_token

from .conftest import ADMIN_TOKEN, BOTH_DATABASES, Measured
from .test_searches_api import submit


def _browser(client: TestClient) -> TestClient:
    """The same app as a browser: no bearer header, cookies kept."""
    browser = TestClient(client.app, follow_redirects=False)
    return browser


def _sign_in(browser: TestClient, token: str = ADMIN_TOKEN) -> None:
    reply = browser.post("/ui/login", data={"token": token, "next": "/ui/searches"})
    assert reply.status_code == 303, reply.text


def _agent_credential(client: TestClient) -> str:
    device = client.post("/v1/devices", json={"name": "ui-agent-dev", "kind": "cpu"}).json()
    enroll = {"enrollment_token": device["enrollment"]["token"], "name": "a", "backend": "ort-cpu"}
    return str(client.post("/v1/agents/enroll", json=enroll).json()["credential"])


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_a_user_token_opens_an_http_only_session_and_an_agent_credential_does_not(
    client: TestClient,
) -> None:
    browser = _browser(client)
    assert browser.get("/ui/devices").headers["location"] == "/ui/login?next=/ui/devices"
    for refused in (_agent_credential(client), "not-a-token", ""):
        reply = browser.post("/ui/login", data={"token": refused})
        assert reply.status_code == 401 and "set-cookie" not in reply.headers, refused
    reply = browser.post("/ui/login", data={"token": ADMIN_TOKEN, "next": "/ui/searches"})
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/searches"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={ADMIN_TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert browser.get("/ui/devices").status_code == 200


def test_sign_in_never_redirects_off_the_dashboard(client: TestClient) -> None:
    browser = _browser(client)
    for target in ("//evil.example/ui/", "https://evil.example/ui/x", "/v1/users/me", "/ui"):
        reply = browser.post("/ui/login", data={"token": ADMIN_TOKEN, "next": target})
        assert reply.headers["location"] == "/ui/devices", target


def test_a_revoked_token_signs_its_session_out(client: TestClient) -> None:
    issued = client.post("/v1/tokens", json={"label": "ui"}).json()
    browser = _browser(client)
    _sign_in(browser, issued["token"])
    assert browser.get("/ui/searches").status_code == 200
    client.delete(f"/v1/tokens/{issued['details']['id']}")
    reply = browser.get("/ui/searches")
    assert reply.status_code == 303 and reply.headers["location"].startswith("/ui/login")
    assert f'{COOKIE}=""' in reply.headers["set-cookie"]  # the dead cookie dropped


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_a_form_without_the_session_form_token_changes_nothing(
    client: TestClient, measured: Measured
) -> None:
    search_id = submit(client, measured)["id"]
    browser = _browser(client)
    _sign_in(browser)
    for forged in ({}, {"csrf": "0" * 64}, {"csrf": form_token("another-token")}):
        reply = browser.post(f"/ui/searches/{search_id}/cancel", data=forged)
        assert reply.status_code == 403, forged
        assert client.get(f"/v1/searches/{search_id}").json()["state"] == "pending"
    reply = browser.post(f"/ui/searches/{search_id}/cancel", data={"csrf": form_token(ADMIN_TOKEN)})
    assert reply.status_code == 303 and reply.headers["location"] == f"/ui/searches/{search_id}"
    assert client.get(f"/v1/searches/{search_id}").json()["state"] == "canceled"


def test_the_search_filters_any_choice_is_no_filter(client: TestClient, measured: Measured) -> None:
    """The form sends an empty value for "any": that is every search, not a 422."""
    search_id = submit(client, measured)["id"]
    browser = _browser(client)
    _sign_in(browser)
    for query in ("state=&estimator=&device_id=", f"state=pending&device_id={measured.device_id}"):
        page = browser.get(f"/ui/searches?{query}")
        assert page.status_code == 200 and search_id in page.text, query
    narrowed = browser.get("/ui/searches?state=&estimator=darts&device_id=")
    assert narrowed.status_code == 200 and search_id not in narrowed.text
    assert "matching the filters" in narrowed.text
    assert browser.get("/ui/searches?estimator=magic").status_code == 422


def test_another_users_search_is_not_found_on_its_page(
    client: TestClient, measured: Measured
) -> None:
    search_id = submit(client, measured)["id"]
    other = client.post("/v1/users", json={"name": "bob"}).json()["token"]
    browser = _browser(client)
    _sign_in(browser, other)
    page = browser.get(f"/ui/searches/{search_id}")
    assert page.status_code == 404 and "not found" in page.text
    reply = browser.post(f"/ui/searches/{search_id}/cancel", data={"csrf": form_token(other)})
    assert reply.status_code == 404
    assert client.get(f"/v1/searches/{search_id}").json()["state"] == "pending"
    assert search_id not in browser.get("/ui/searches").text


def test_the_stream_sends_the_events_after_a_position_then_the_end(
    client: TestClient, measured: Measured
) -> None:
    search_id = submit(client, measured)["id"]
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        row = search_repo.get_search(session=session, search_id=search_id)
        for step in range(4):
            search_repo.add_search_event(
                session=session, search=row, step=step, kind="step", payload={"step": step}
            )
    client.post(f"/v1/searches/{search_id}/cancel")
    browser = _browser(client)
    _sign_in(browser)
    reply = browser.get(f"/ui/searches/{search_id}/stream", headers={"Last-Event-ID": "1"})
    assert reply.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in reply.text.split("\n\n") if b.startswith(("id:", "event:"))]
    assert blocks[:3] == [f'id: {n + 1}\nevent: step\ndata: {{"step": {n}}}' for n in (1, 2, 3)], (
        blocks
    )
    assert blocks[3].startswith('event: state\ndata: {"state": "canceled"')
    assert blocks[4] == 'event: end\ndata: {"state": "canceled"}'
    assert browser.get("/ui/searches/nope/stream").status_code == 404


def test_the_stream_closes_without_an_end_when_the_server_stops(
    client: TestClient, measured: Measured
) -> None:
    search_id = submit(client, measured)["id"]  # pending: its stream would wait
    browser = _browser(client)
    _sign_in(browser)
    server_stopping.set()
    try:
        started = time.monotonic()
        reply = browser.get(f"/ui/searches/{search_id}/stream")
        assert time.monotonic() - started < STREAM_WAIT_S / 2
    finally:
        server_stopping.clear()
    assert 'event: state\ndata: {"state": "pending"' in reply.text
    assert "event: end" not in reply.text


def test_the_speed_sparkline_follows_the_stable_points_of_each_configuration() -> None:
    def point(runtime: str, index: float, unstable: bool = False) -> dict[str, object]:
        return {"runtime_config_id": runtime, "speed_index": index, "unstable": unstable}

    paths = speed_paths(
        [point("a", 1.0), point("a", 0.5, unstable=True), point("a", 0.8), point("b", 1.0)]
    )
    # 1.0 then 0.8 (the unstable 0.5 left out): from the top of the box to its bottom
    assert paths == {"a": f"M0.0 2.0 L{SPARK_WIDTH:.1f} {SPARK_HEIGHT - 2:.1f}"}
