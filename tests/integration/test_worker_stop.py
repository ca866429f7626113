"""A real worker process stopped the way a service manager stops it (SIGTERM) in the middle
of a search segment of 10,000 steps: it exits by itself within seconds, with the steps it ran
committed and the rest of the segment sent on (search_worker.tasks.worker_stop).

Celery drains its broker once more while it shuts down, so the stopping worker may take the
segment it just sent on as well: it then runs no step of it and sends it on again."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import Stack
from .test_drift_and_host_lock import BATCH, SEARCH

HUGE_SEGMENT = {**SEARCH, "segment_steps": 10_000, "oracle": "lut"}  # no agent needed
STOP_WITHIN_S = 60.0  # a step and a commit; the segment would take hours


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_stopped_mid_segment_commits_and_exits(stack: Stack, new_device) -> None:  # type: ignore[no-untyped-def]
    device_id, _ = new_device("cpu-stop")
    stack.seed_lookup_table(device_id, BATCH)
    worker = stack.start_worker()
    api = stack.api()
    search = api.post(
        "/searches",
        {"device_id": device_id, "budget_ms": 1000.0, "estimator": "unas", "config": HUGE_SEGMENT},
    )
    deadline = time.monotonic() + 120
    while "segment 0: claimed" not in worker.log_tail(200):
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.5)
    time.sleep(3)  # some steps into the segment
    started = time.monotonic()
    exit_code = worker.stop(grace_s=STOP_WITHIN_S)
    took_s = time.monotonic() - started
    assert exit_code == 0 and took_s < STOP_WITHIN_S, (exit_code, took_s, worker.log_tail())
    committed = re.findall(r"this worker is stopping; committed at step (\d+)", worker.log_tail())
    assert committed and len(set(committed)) == 1, worker.log_tail()
    state = api.get(f"/searches/{search['id']}")
    assert state["state"] == "running" and state["progress"]["step"] == int(committed[0]), state
