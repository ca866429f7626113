"""``bench/agent_load.py`` in a tiny real run (PostgreSQL, a two-worker server): the last
line has the issue's figures, every queued job is done once, and no request failed. With a
sentinel due every few jobs, the agents must not stop before the bench's own jobs are done
(the sentinels once counted towards them, and a few queued jobs were reported lost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from ..databases import postgres_unreachable
from .conftest import POSTGRES_ADMIN

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "agent_load.py"
FIGURES = {
    "completed_per_s",
    "claim_p50_ms",
    "claim_p99_ms",
    "heartbeat_p99_ms",
    "lost",
    "double_leased",
    "errors_5xx",
    "agents",
}


@pytest.mark.postgres
def test_a_tiny_load_completes_every_job_once() -> None:
    try:
        psycopg.connect(POSTGRES_ADMIN).close()
    except psycopg.OperationalError as err:
        postgres_unreachable(f"PostgreSQL at {POSTGRES_ADMIN} unreachable: {err}")
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--agents", "3", "--jobs", "30", "--pollers", "2", "--duration-cap", "90"),
            *("--server-workers", "2", "--postgres", POSTGRES_ADMIN),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "HWNAS_SENTINEL_EVERY_JOBS": "5"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures.keys() >= FIGURES
    assert (figures["lost"], figures["double_leased"], figures["errors_5xx"]) == (0, 0, 0)
    assert figures["transport_errors"] == 0 and not figures["capped"]
    assert figures["completed"] > 30, "the sentinels come on top of the 30 jobs"
    assert figures["agents"] == 3 and figures["params"]["server_workers"] == 2
