"""``hwnas search`` on both paths: through the API (in-process app) and on the CLI's own
embedded database, where a submit queues the search on the embedded broker for
``hwnas worker``; a bad submission reads the same on both."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from latency_db.broker import TASK_SEARCH_SEGMENT
from latency_db.db import ensure_schema, make_engine, make_session_factory, session_scope
from latency_db.models import SearchState
from latency_db.repositories import searches as search_repo
from latency_db.settings import get_settings
from services.bootstrap import admin_user
from services.cli.main import app
from services.cli.search_commands import EVENT_WAIT_S

from .conftest import ADMIN_TOKEN, Measured, seed_measurements

runner = CliRunner()
DEPLOY = [
    "--set",
    "deploy_resolution=32",
    "--set",
    "deploy_width=0.35",
    "--set",
    "deploy_classes=10",
]


def invoke(*args: str) -> Result:
    return runner.invoke(app, ["search", *args])


def submit_json(*args: str) -> dict[str, Any]:
    reply = invoke("submit", "--device", "cpu-pred", "--budget", "25", *DEPLOY, *args, "--json")
    assert reply.exit_code == 0, reply.output
    return dict(json.loads(reply.output))


def check_list_filters(search_id: str, estimator: str) -> None:
    """``search list`` by estimator and by device: the one search, or none; an unknown device
    or estimator is one clear error."""

    def listed(*args: str) -> list[str]:
        reply = invoke("list", *args, "--json")
        assert reply.exit_code == 0, reply.output
        return [s["id"] for s in json.loads(reply.output)["searches"]]

    assert listed("--estimator", estimator, "--device", "cpu-pred") == [search_id]
    assert listed("--estimator", "darts") == []
    unknown = invoke("list", "--device", "nope")
    assert unknown.exit_code == 2 and "device 'nope' not found" in unknown.output
    assert invoke("list", "--estimator", "magic").exit_code == 2


@pytest.fixture
def local_db(local_cli: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    """The CLI's embedded database, migrated; its broker the embedded one too."""
    monkeypatch.delenv("HWNAS_BROKER_URL", raising=False)
    engine = make_engine(get_settings())
    ensure_schema(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def local_measured(local_db: sessionmaker[Session]) -> Measured:
    """``seed_measurements`` in the CLI's embedded database."""
    return seed_measurements(local_db, "cpu-pred")


def test_submit_list_cancel_through_the_api(
    client: TestClient,
    measured: Measured,
    local_cli: Path,
    cli_server: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HWNAS_API_TOKEN", ADMIN_TOKEN)
    search = submit_json("--estimator", "unas", "--set", "steps=40", "--set", "latency_form=hinge")
    assert search["estimator"] == "unas" and search["spec"]["latency_form"] == "hinge"
    assert search["spec"]["steps"] == 40 and search["budget_ms"] == 25.0
    listed = json.loads(invoke("list", "--json").output)["searches"]
    assert [s["id"] for s in listed] == [search["id"]]
    check_list_filters(search["id"], "unas")
    early = invoke("result", search["id"])
    assert early.exit_code == 2 and "pending, not finished" in early.output
    canceled = invoke("cancel", search["id"])
    assert canceled.exit_code == 0 and "canceled" in canceled.output
    bad = invoke("submit", "--device", "cpu-pred", "--budget", "25", "--set", "nonsense")
    assert bad.exit_code == 2 and "key=value" in bad.output
    assert not list((local_cli / "broker").glob("queue/*")), "the server's broker queues it"


def test_submit_list_result_cancel_on_the_local_database(
    local_cli: Path, local_db: sessionmaker[Session], local_measured: Measured
) -> None:
    search = submit_json("--estimator", "unas", "--set", "latency_form=hinge")
    search_id = search["id"]
    assert search["state"] == "pending" and search["space_ref"] == local_measured.space.ref
    assert search["latency_model"]["kind"] == "lut"
    with session_scope(local_db) as session:
        assert search["owner_id"] == admin_user(session).id
    (message,) = (local_cli / "broker" / "queue").iterdir()  # segment 0, for `hwnas worker`
    assert TASK_SEARCH_SEGMENT in message.read_text() and search_id in message.read_text()
    listed = json.loads(invoke("list", "--json").output)["searches"]
    assert [s["id"] for s in listed] == [search_id]
    check_list_filters(search_id, "unas")
    early = invoke("result", search_id)
    assert early.exit_code == 2
    assert early.output.strip() == f"error: search {search_id} is pending, not finished"
    canceled = invoke("cancel", search_id)
    assert canceled.exit_code == 0 and f"search {search_id}: canceled" in canceled.output
    in_state = {
        state: [
            s["id"]
            for s in json.loads(invoke("list", "--state", state, "--json").output)["searches"]
        ]
        for state in ("pending", "canceled")
    }
    assert in_state == {"pending": [], "canceled": [search_id]}
    refused = invoke("resume", search_id)
    assert refused.exit_code == 2 and "cannot go from canceled to resuming" in refused.output
    missing = invoke("cancel", "nope")
    assert missing.exit_code == 2 and "search 'nope' not found" in missing.output


def test_local_watch_follows_what_a_worker_commits(
    local_db: sessionmaker[Session], local_measured: Measured
) -> None:
    search_id = submit_json("--set", "steps=3", "--set", "warmup_steps=0")["id"]

    def worker() -> None:
        """What a worker writes: running, three step events, then the result."""
        time.sleep(1.0)
        with session_scope(local_db) as session:
            row = search_repo.get_search(session=session, search_id=search_id)
            search_repo.transition_search(session=session, search=row, state=SearchState.RUNNING)
            for step in range(3):
                payload = {"step": step, "expected_latency_ms": 20.0, "measurements_used": step}
                search_repo.add_search_event(
                    session=session, search=row, step=step, kind="step", payload=payload
                )
        time.sleep(1.0)
        with session_scope(local_db) as session:
            row = search_repo.get_search(session=session, search_id=search_id)
            result = {"architecture": "a", "measured_latency_ms": 21.0, "meets_budget": True}
            search_repo.transition_search(
                session=session, search=row, state=SearchState.SUCCEEDED, result=result
            )

    with ThreadPoolExecutor(max_workers=1) as pool:
        writer = pool.submit(worker)
        started = time.monotonic()
        watched = invoke("watch", search_id, "--timeout", "30")
        writer.result(timeout=60)  # re-raises what the writer raised
    assert watched.exit_code == 0, watched.output
    assert time.monotonic() - started < EVENT_WAIT_S, "it follows commits, not long-poll ends"
    assert f"search {search_id}: succeeded" in watched.output
    answer = json.loads(invoke("result", search_id, "--json").output)
    assert answer["state"] == "succeeded" and answer["result"]["measured_latency_ms"] == 21.0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--device", "nope", "--budget", "25"], "device 'nope' not found"),
        (["--device", "cpu-pred", "--budget", "0"], "budget_ms: Input should be greater than 0"),
        (["--device", "cpu-pred", "--budget=-3"], "budget_ms: Input should be greater than 0"),
        (  # refused by the option's choices before either path is reached
            ["--device", "cpu-pred", "--budget", "25", "--estimator", "magic"],
            "'magic' is not one of 'darts'",
        ),
    ],
)
def test_a_bad_submission_reads_the_same_on_both_paths(
    local_measured: Measured,
    measured: Measured,
    cli_server: None,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    says: str,
) -> None:
    monkeypatch.setenv("HWNAS_SERVER_URL", "http://testserver")
    monkeypatch.setenv("HWNAS_API_TOKEN", ADMIN_TOKEN)
    remote = invoke("submit", *args, *DEPLOY)
    monkeypatch.delenv("HWNAS_SERVER_URL")
    local = invoke("submit", *args, *DEPLOY)
    assert remote.exit_code == local.exit_code == 2
    message = local.output.strip().removeprefix("error: ")
    assert says in message and remote.output.strip().endswith(message), (remote.output, message)
