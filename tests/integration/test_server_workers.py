"""``hwnas server --workers 2`` on PostgreSQL, with real processes: the workers share the
port and their metrics (a scrape of either counts every worker's requests), every worker's
long-polls answer at once when the server is stopped, and the workers end when their
supervisor is SIGKILLed. SQLite refuses a second worker in one line.

Results of the client threads are collected and asserted in the main thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Stack, _postgres_database, start_stack
from .test_long_polls import in_threads, until_waiting, wait_events, waiters

WORKERS = 2
# Requests only this test makes: answered 404 and counted under the unmatched route.
PROBE_PATH = "/v1/no-such-route"
PROBE_SAMPLE = {"method": "GET", "route": "<unmatched>", "status": "404"}


@pytest.fixture
def two_workers(tmp_path: Path, postgres_template: str) -> Iterator[Stack]:
    """A server of two worker processes, their metrics in ``tmp_path / "metrics"``."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    for url in _postgres_database(postgres_template):
        result = start_stack(
            tmp_path,
            url,
            server_args=("--workers", str(WORKERS)),
            PROMETHEUS_MULTIPROC_DIR=str(metrics),
        )
        try:
            yield result
        finally:
            result.stop_all()


def workers_of(stack: Stack) -> list[psutil.Process]:
    """The worker processes of the stack's server (uvicorn's spawned children)."""
    server = stack.server
    children = psutil.Process(server.popen.pid).children(recursive=True)
    return [p for p in children if "spawn_main" in " ".join(p.cmdline())]


def probes_counted(stack: Stack) -> float:
    """``hwnas_http_requests_total`` of the probe requests, in one scrape."""
    text = httpx.get(f"{stack.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "hwnas_http_requests_total" and sample.labels == PROBE_SAMPLE:
                return sample.value
    return 0.0


@pytest.mark.postgres
def test_one_scrape_counts_the_requests_of_every_worker(two_workers: Stack) -> None:
    """Probes on fresh connections until both workers have answered some; then every
    scrape, whichever worker answers it, counts all of them. (A worker counts a request
    just after answering it, so the count is awaited before it is checked.)"""
    assert len(workers_of(two_workers)) == WORKERS
    metrics = Path(two_workers.env["PROMETHEUS_MULTIPROC_DIR"])

    def probe() -> None:
        assert httpx.get(f"{two_workers.url}{PROBE_PATH}", timeout=10).status_code == 404

    sent = 0
    while len(list(metrics.glob("counter_*.db"))) < WORKERS:
        assert sent < 500, "one worker answered 500 requests on fresh connections alone"
        probe()
        sent += 1
    for _ in range(20):  # and some more, spread over both
        probe()
    sent += 20
    deadline = time.monotonic() + 10
    while probes_counted(two_workers) != sent:
        assert time.monotonic() < deadline, f"no scrape counted all {sent} probes"
        time.sleep(0.05)
    assert [probes_counted(two_workers) for _ in range(6)] == [sent] * 6


@pytest.mark.postgres
def test_every_workers_long_polls_answer_when_the_server_stops(two_workers: Stack) -> None:
    """SIGTERM to the server with six 30 s waits open on fresh connections (both workers
    hold some): each answers at once with what it has, and the server exits in seconds."""
    stack = two_workers
    created = stack.api().post("/devices", {"name": "cpu-stop", "kind": "cpu"})
    database_url = stack.env["HWNAS_DATABASE_URL"]
    users = waiters(stack, database_url, created["device"]["id"], 6)
    threads, answers = in_threads(
        [lambda u=u: wait_events(stack, u, 30, client_timeout=60) for u in users]
    )
    until_waiting(stack, lambda n: n == 6, timeout_s=20)
    server = stack.server
    started = time.monotonic()
    server.stop(grace_s=30)
    stopped_s = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=30)

    assert stopped_s < 8, f"the server took {stopped_s:.1f} s to stop beside six long-polls"
    assert [(a.status, a.body) for a in answers] == [(200, [])] * 6
    assert max(a.elapsed_s for a in answers) < 10


@pytest.mark.postgres
def test_the_workers_end_when_their_supervisor_is_killed(two_workers: Stack) -> None:
    """SIGKILL to the supervisor alone: no worker goes on serving the port."""
    workers = workers_of(two_workers)
    assert len(workers) == WORKERS
    server = two_workers.server
    os.kill(server.popen.pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(workers, timeout=20)
    for worker in alive:  # the fixture stops only what its supervisor still leads
        worker.kill()
    assert alive == [], f"workers {[p.pid for p in alive]} outlived their supervisor"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{two_workers.url}/v1/health", timeout=5)


def test_sqlite_refuses_a_second_worker(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "server", "--workers", "2"],
        env={**os.environ, "HWNAS_DATA_DIR": str(tmp_path), "HWNAS_DATABASE_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode != 0
    assert "--workers 2 needs PostgreSQL" in finished.stderr + finished.stdout
    assert "Traceback" not in finished.stderr
