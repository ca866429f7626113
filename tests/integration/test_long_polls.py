"""Design section 8, promise 10, on a real uvicorn process (SQLite): long-polls on search
events hold no server thread, so a crowd of them leaves agent heartbeats fast; one user
holds at most ``long_polls_per_user`` waits at once (429 beyond), released when a wait ends
or its client hangs up.

Results of the client threads are collected and asserted in the main thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.repositories import devices as device_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.repositories import searches as search_repo
from latency_db.repositories import users as user_repo

from ..threads import ReportingThread
from .conftest import RUNTIME, Stack

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PER_USER = 8  # the default of ``long_polls_per_user``


@dataclass
class Waiter:
    """A user with a pending search of their own to wait on."""

    token: str
    search_id: str


@dataclass
class Answer:
    status: int | None  # None: the client gave up (timeout)
    body: Any
    elapsed_s: float


def waiters(stack: Stack, database_url: str, device_id: str, count: int) -> list[Waiter]:
    """``count`` users made through the API, each owning a search stored directly (it is
    never run: no worker here), so their long-polls wait the whole ``wait``."""
    issued = [stack.api().post("/users", {"name": f"watcher-{i}"}) for i in range(count)]
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            device = device_repo.get_device(session=session, device_id=device_id)
            runtime = runtime_repo.get_or_create_runtime_config(
                session=session, backend=RUNTIME["backend"], settings=RUNTIME["settings"]
            )
            result = []
            for reply in issued:
                search = search_repo.create_search(
                    session=session,
                    owner=user_repo.get_user(session=session, user_id=reply["user"]["id"]),
                    device=device,
                    runtime_config=runtime,
                    space_ref="proxyless-r32",
                    config={},
                    budget_ms=10.0,
                    estimator="proxyless",
                )
                result.append(Waiter(reply["token"], search.id))
    finally:
        engine.dispose()
    return result


def wait_events(stack: Stack, waiter: Waiter, wait: float, client_timeout: float = 30) -> Answer:
    started = time.monotonic()
    try:
        reply = httpx.get(
            f"{stack.url}/v1/searches/{waiter.search_id}/events",
            params={"wait": wait},
            headers={"Authorization": f"Bearer {waiter.token}"},
            timeout=client_timeout,
        )
    except httpx.TimeoutException:
        return Answer(None, None, time.monotonic() - started)
    return Answer(reply.status_code, reply.json(), time.monotonic() - started)


def in_threads(calls: list[Callable[[], Answer]]) -> tuple[list[ReportingThread], list[Answer]]:
    """Start every call in its own thread; the answers list fills as they finish."""
    answers: list[Answer] = []
    threads = [ReportingThread(lambda c=c: answers.append(c())) for c in calls]
    for thread in threads:
        thread.start()
    return threads, answers


def waiting_now(stack: Stack) -> int:
    text = httpx.get(f"{stack.url}/metrics", timeout=10).text
    found = re.search(r"^hwnas_long_polls_waiting (\S+)$", text, re.MULTILINE)
    assert found, "the gauge hwnas_long_polls_waiting is missing"
    return int(float(found.group(1)))


def until_waiting(stack: Stack, ready: Callable[[int], bool], timeout_s: float) -> None:
    """Poll the server's gauge of waiting long-polls until ``ready(count)``."""
    deadline = time.monotonic() + timeout_s
    while not ready(now := waiting_now(stack)):
        assert time.monotonic() < deadline, f"{now} long-polls waiting after {timeout_s} s"
        time.sleep(0.1)


def test_a_crowd_of_long_polls_leaves_agent_heartbeats_fast(
    stack: Stack, new_device: Callable[[str], tuple[str, str]], database_url: str
) -> None:
    """48 long-polls of 8 s by six users (eight each) while an agent heartbeats: every
    heartbeat answers well under a second. Sleeping waits in the threadpool (40 threads)
    made a heartbeat wait for a poll to end."""
    device_id, enroll_token = new_device("cpu-crowd")
    users = waiters(stack, database_url, device_id, 6)
    agent = httpx.Client(base_url=f"{stack.url}/v1", timeout=30)
    enrolled = agent.post(
        "/agents/enroll",
        json={"enrollment_token": enroll_token, "name": "beating", "backend": "ort-cpu"},
    )
    assert enrolled.status_code == 201, enrolled.text
    agent.headers["Authorization"] = f"Bearer {enrolled.json()['credential']}"

    wait_s = 8.0
    polls, answers = in_threads(
        [lambda u=u: wait_events(stack, u, wait_s) for u in users for _ in range(PER_USER)]
    )
    until_waiting(stack, lambda n: n == len(polls), timeout_s=15)
    beats: list[tuple[int, float]] = []
    for _ in range(10):
        started = time.monotonic()
        status = agent.post("/agents/heartbeat", json={}).status_code
        beats.append((status, time.monotonic() - started))
        time.sleep(0.2)
    still_waiting = waiting_now(stack)
    for thread in polls:
        thread.join(timeout=30)
    agent.close()

    assert still_waiting == len(polls), "the heartbeats ran after the waits had ended"
    assert [status for status, _ in beats] == [200] * len(beats)
    slowest = max(seconds for _, seconds in beats)
    assert slowest < 1.0, f"a heartbeat took {slowest:.2f} s beside {len(polls)} long-polls"
    assert len(answers) == len(polls)
    assert {(a.status, str(a.body)) for a in answers} == {(200, "[]")}
    assert min(a.elapsed_s for a in answers) >= wait_s - 0.5, "every poll waited its time"


def test_one_user_holds_at_most_k_waits_and_gets_them_back(
    stack: Stack, new_device: Callable[[str], tuple[str, str]], database_url: str
) -> None:
    """A burst of K + 4 waits by one user: K wait, 4 are refused with a 429 at once;
    another user still waits; once the K end, the user waits again."""
    device_id, _ = new_device("cpu-bound")
    busy, other = waiters(stack, database_url, device_id, 2)
    burst, answers = in_threads([lambda: wait_events(stack, busy, 5.0)] * (PER_USER + 4))
    until_waiting(stack, lambda n: n >= PER_USER, timeout_s=10)
    beside = wait_events(stack, other, 0.5)
    for thread in burst:
        thread.join(timeout=30)
    again = wait_events(stack, busy, 0.5)

    refused = [a for a in answers if a.status == 429]
    assert sorted(a.status or 0 for a in answers) == [200] * PER_USER + [429] * 4
    assert all(a.elapsed_s < 4.0 for a in refused), "a refusal answers at once"
    assert refused[0].body["code"] == "too_many_waits"
    assert f"at most {PER_USER} long-polls" in refused[0].body["message"]
    assert (beside.status, beside.body) == (200, []), "another user is not limited"
    assert (again.status, again.body) == (200, []), "the slots came back"


def test_a_client_that_hangs_up_gives_its_slot_back(
    stack: Stack, new_device: Callable[[str], tuple[str, str]], database_url: str
) -> None:
    """K waits of 30 s whose clients give up after 1.5 s: the server notices, frees the
    slots well before the 30 s are over, and the user can wait again."""
    device_id, _ = new_device("cpu-hangup")
    (user,) = waiters(stack, database_url, device_id, 1)
    started = time.monotonic()
    clients, answers = in_threads(
        [lambda: wait_events(stack, user, 30.0, client_timeout=1.5)] * PER_USER
    )
    for thread in clients:
        thread.join(timeout=30)
    until_waiting(stack, lambda n: n == 0, timeout_s=5)
    again = wait_events(stack, user, 0.5)

    assert [a.status for a in answers] == [None] * PER_USER, "every client gave up"
    assert time.monotonic() - started < 15
    assert (again.status, again.body) == (200, [])


def test_a_stopping_server_does_not_wait_for_its_long_polls(
    stack: Stack, new_device: Callable[[str], tuple[str, str]], database_url: str
) -> None:
    """SIGTERM with a 30 s wait open: the wait answers at once with what it has (no events
    yet) and the server exits within seconds. A restart waited for every open poll (an
    agent's claim holds one all the time)."""
    device_id, _ = new_device("cpu-stop")
    (user,) = waiters(stack, database_url, device_id, 1)
    cut: list[BaseException | tuple[int, Any]] = []

    def poll() -> None:
        try:
            reply = httpx.get(
                f"{stack.url}/v1/searches/{user.search_id}/events",
                params={"wait": 30},
                headers={"Authorization": f"Bearer {user.token}"},
                timeout=90,
            )
            cut.append((reply.status_code, reply.json()))
        except httpx.TransportError as err:
            cut.append(err)

    client = ReportingThread(poll)
    client.start()
    until_waiting(stack, lambda n: n == 1, timeout_s=10)
    server = stack.server
    started = time.monotonic()
    server.stop(grace_s=30)
    stopped_s = time.monotonic() - started
    client.join(timeout=30)

    assert stopped_s < 8, f"the server took {stopped_s:.1f} s to stop beside one long-poll"
    assert cut == [(200, [])]
