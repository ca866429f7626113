"""Search events announced by PostgreSQL (issue 18): a waiting events long-poll answers as
soon as an event is stored or the search ends, instead of at its next scheduled read; a lost
listener connection is opened again. Each wait runs in a thread whose answer the main thread
checks."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from latency_db.db import session_scope
from latency_db.repositories import searches as search_repo
from services.search_notices import APPLICATION_NAME, SearchNotices

from ..threads import ReportingThread
from .conftest import Measured
from .test_searches_api import submit

pytestmark = pytest.mark.parametrize(
    "database", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

# A wait reads at 0 s; on its own schedule (no notices) again at 0.5, 1.5, 3.5, 5.5 s. News
# stored at 3.8 s reaches it 1.7 s later that way, at once by a notice.
NEWS_AT_S = 3.8
PROMPT_S = 0.5


@dataclass
class Wait:
    """One events long-poll in a thread: its events and when they came."""

    client: TestClient
    search_id: str
    answer: list[dict[str, Any]] = field(default_factory=list)
    answered_at: float = 0.0

    def run(self) -> None:
        reply = self.client.get(
            f"/v1/searches/{self.search_id}/events", params={"after": 0, "wait": 20}
        )
        self.answered_at = time.monotonic()
        assert reply.status_code == 200, reply.text
        self.answer = reply.json()


def _listening(client: TestClient) -> SearchNotices:
    notices: SearchNotices = client.app.state.search_notices  # type: ignore[attr-defined]
    deadline = time.monotonic() + 15
    while not notices.listening:
        assert time.monotonic() < deadline, "the listener never listened"
        time.sleep(0.05)
    return notices


def _answered_after(client: TestClient, search_id: str, news: Any) -> tuple[Wait, float]:
    """Start a wait, bring ``news`` at NEWS_AT_S; the wait and how long after the news it
    answered."""
    wait = Wait(client, search_id)
    thread = ReportingThread(wait.run)
    thread.start()
    time.sleep(NEWS_AT_S)
    news_at = time.monotonic()
    news()
    thread.join(30)
    return wait, wait.answered_at - news_at


def _store_event(client: TestClient, search_id: str) -> None:
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        search = search_repo.get_search(session=session, search_id=search_id)
        search_repo.add_search_event(
            session=session, search=search, step=7, kind="step", payload={"loss": 1.0}
        )


def test_a_waiting_poll_answers_as_soon_as_an_event_is_stored(
    client: TestClient, measured: Measured
) -> None:
    search_id = submit(client, measured)["id"]
    _listening(client)
    wait, late_s = _answered_after(client, search_id, lambda: _store_event(client, search_id))
    assert [event["step"] for event in wait.answer] == [7]
    assert late_s < PROMPT_S, f"answered {late_s:.2f} s after the event"


def test_a_wait_ends_as_soon_as_its_search_is_canceled(
    client: TestClient, measured: Measured
) -> None:
    search_id = submit(client, measured)["id"]
    _listening(client)

    def cancel() -> None:
        assert client.post(f"/v1/searches/{search_id}/cancel").status_code == 200

    wait, late_s = _answered_after(client, search_id, cancel)
    assert wait.answer == []  # no event: the search has ended
    assert late_s < PROMPT_S, f"answered {late_s:.2f} s after the cancel"


def test_a_lost_listener_listens_again(client: TestClient, measured: Measured) -> None:
    search_id = submit(client, measured)["id"]
    _listening(client)
    sessions = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(sessions) as session:
        ended = session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": f"{APPLICATION_NAME}-{os.getpid()}"},
        ).scalars()
        assert list(ended) == [True]
    time.sleep(0.5)
    _listening(client)
    wait, late_s = _answered_after(client, search_id, lambda: _store_event(client, search_id))
    assert [event["step"] for event in wait.answer] == [7]
    assert late_s < PROMPT_S, f"answered {late_s:.2f} s after the event"
