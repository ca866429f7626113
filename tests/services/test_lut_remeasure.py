"""``build_lookup_table(remeasure_rounds=N)`` (the demo's) and ``hwnas lut build --remeasure
N`` (embedded and through the API): op keys measured only unstable are queued again and
measured until clean, at most N more times, through the real app."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from hwnas import Client
from latency_db.models import ProfilingJob
from latency_db.spaces import get_space
from services import lookup_tables
from services.cli.main import app
from services.cli.workflows import Target, build_lookup_table

from .conftest import RUNTIME, time_queued_op_jobs

T = TypeVar("T")

SPACE = get_space("proxyless", resolution=32, width_mult=0.35)
NOISY_MS = [0.5, 1.0, 0.5, 1.0]  # CV about 0.38: stored as unstable
STEADY_MS = [0.5, 0.5, 0.5, 0.5]


def _measure_rounds(
    sessions: sessionmaker[Session], unstable_rounds: int, stop: threading.Event
) -> Counter[str]:
    """A stand-in for worker and agent until ``stop``: every queued op job is timed as it
    comes, noisy for each key's first ``unstable_rounds`` jobs and steady after; how many
    jobs each key had."""
    jobs_per_key: Counter[str] = Counter()

    def times_ms(job: ProfilingJob) -> list[float]:
        jobs_per_key[job.subject] += 1
        return NOISY_MS if jobs_per_key[job.subject] <= unstable_rounds else STEADY_MS

    while not stop.wait(0.1):
        time_queued_op_jobs(sessions, times_ms)
    return jobs_per_key


def _with_stand_in(
    client: TestClient, unstable_rounds: int, build: Callable[[], T]
) -> tuple[T, Counter[str]]:
    """``build()`` while the stand-in measures: what it returned, and the jobs per key."""
    sessions = client.app.state.session_factory  # type: ignore[attr-defined]
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        agent = pool.submit(_measure_rounds, sessions, unstable_rounds, stop)
        try:
            built = build()
        finally:
            stop.set()
        jobs_per_key = agent.result(timeout=30)  # re-raises what the stand-in raised
    return built, jobs_per_key


def _build(
    client: TestClient, api: Client, unstable_rounds: int, remeasure_rounds: int
) -> tuple[dict[str, Any], Counter[str]]:
    device = client.post("/v1/devices", json={"name": "cpu-1", "kind": "cpu"}).json()
    target = Target(device["device"]["id"], RUNTIME, batch_size=32)
    return _with_stand_in(
        client,
        unstable_rounds,
        lambda: build_lookup_table(api, target, SPACE, 30.0, remeasure_rounds=remeasure_rounds),
    )


def test_keys_measured_unstable_are_measured_again_until_clean(
    client: TestClient, api: Client
) -> None:
    table, jobs_per_key = _build(client, api, unstable_rounds=1, remeasure_rounds=2)
    keys = SPACE.all_op_keys()
    assert set(jobs_per_key.values()) == {2}  # one noisy, one steady job per key
    assert table["progress"]["measured"] == len(keys) and table["progress"]["unclean"] == 0
    assert len(table["entries"]) == len(keys)
    assert table["trust"] == "built on clean measurements only"


def test_remeasuring_stops_after_its_rounds(client: TestClient, api: Client) -> None:
    table, jobs_per_key = _build(client, api, unstable_rounds=9, remeasure_rounds=1)
    keys = SPACE.all_op_keys()
    assert set(jobs_per_key.values()) == {2}  # the first job and one more round, no third
    assert table["progress"]["unclean"] == len(keys) and table["entries"] == {}


@pytest.mark.parametrize(
    ("unstable_rounds", "remeasure", "jobs", "unclean"), [(1, 1, 2, 0), (2, 1, 2, 58)]
)
def test_lut_build_remeasures_unclean_keys_for_its_rounds(
    served: TestClient, unstable_rounds: int, remeasure: int, jobs: int, unclean: int
) -> None:
    assert served.post("/v1/devices", json={"name": "cpu-1", "kind": "cpu"}).status_code == 201
    command = [
        "lut", "build", "--device", "cpu-1", "--space", "proxyless", "--resolution", "32",
        "--width", "0.35", "--remeasure", str(remeasure), "--timeout", "30",
        "--json",
    ]  # fmt: skip
    built, jobs_per_key = _with_stand_in(
        served, unstable_rounds, lambda: CliRunner().invoke(app, command)
    )
    assert built.exit_code == 0, built.output
    assert set(jobs_per_key.values()) == {jobs}  # the first job and --remeasure rounds, no more
    progress = json.loads(built.stdout)["progress"]
    assert progress["measured"] == len(SPACE.all_op_keys()) and progress["unclean"] == unclean
    assert "re-measuring the 58 op keys measured only unstable" in built.stderr


# PostgreSQL only: on SQLite the read's transaction holds the write lock, so nothing lands
# between its two reads.
@pytest.mark.parametrize(
    "database", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_result_landing_while_the_table_is_read_never_leaves_progress_ahead(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results committed between the table's two reads (its progress, its entries) show in
    the entries: a client that polls until ``measured == total`` then has every key's entry
    (a flaky integration test saw a key missing)."""
    device = client.post("/v1/devices", json={"name": "cpu-1", "kind": "cpu"}).json()
    body = {
        "device_id": device["device"]["id"],
        "runtime": RUNTIME,
        "space": "proxyless",
        "resolution": 32,
        "width_mult": 0.35,
    }
    built = client.post("/v1/lookup-tables/build", json=body).json()
    sessions = client.app.state.session_factory  # type: ignore[attr-defined]
    read_progress = lookup_tables.progress

    def progress_then_results(**kwargs: Any) -> Any:
        done = read_progress(**kwargs)
        time_queued_op_jobs(sessions, lambda _job: STEADY_MS)  # another writer, committed
        return done

    monkeypatch.setattr(lookup_tables, "progress", progress_then_results)
    query = {
        "device_id": body["device_id"],
        "space_ref": SPACE.ref,
        "runtime_config_id": built["runtime_config_id"],
        "batch_size": 32,
    }
    reply = client.get("/v1/lookup-tables", params=query)
    assert reply.status_code == 200, reply.text
    table = reply.json()
    assert table["progress"]["measured"] == 0  # read before the results landed
    assert len(table["entries"]) == len(SPACE.all_op_keys())
