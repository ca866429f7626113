"""Issue 16 items 4 and 6 with real processes: a real ``hwnas-agent`` measures the drift
sentinel before its first job, and a worker training a ``measured``-oracle search pauses
while the agent beside it measures (the host's device-busy lock)."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from .conftest import FAST_POLICY, Stack

BATCH = 4
SEARCH = {
    "deploy_resolution": 32,
    "deploy_width": 0.35,
    "deploy_classes": 10,
    "deploy_batch": BATCH,
    "proxy_resolution": 16,
    "proxy_width": 0.35,
    "batch_size": 8,
    "steps": 10_000,
    "warmup_steps": 1,
    "segment_steps": 4,
    "eval_batches": 1,
    "max_pending": 2,
}
# Each measurement holds the device >= 0.3 s, so a paused step is plain in the worker's log.
HOLDING_POLICY = ["--warmup-runs", "2", "--warmup-seconds", "0", "--runs", "5", "--seconds", "0.3"]


@pytest.mark.sentinel
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_real_agent_measures_the_sentinel_before_its_first_job(
    stack: Stack, new_device, upload_model
) -> None:  # type: ignore[no-untyped-def]
    device_id, token = new_device("cpu-drift")
    job = stack.submit_model_job(device_id, upload_model()["sha256"])
    stack.start_agent("agent-drift", token, *FAST_POLICY)
    done = stack.wait_job(job["id"])
    assert done["state"] == "succeeded"
    api = stack.api()
    jobs = {j["kind"]: j for j in api.get("/jobs", device_id=device_id)}
    assert set(jobs) == {"sentinel", "model"} and jobs["sentinel"]["state"] == "succeeded"
    sentinel = stack.measurement_of(jobs["sentinel"])
    model = stack.measurement_of(done)
    assert sentinel["subject_kind"] == "sentinel" and sentinel["input_shape"] == [4, 32, 56, 56]
    assert _instant(sentinel["created_at"]) < _instant(model["created_at"])
    points = api.get(f"/devices/{device_id}/health")["points"]
    if sentinel["verdict"] != "clean":  # a busy machine: no reference yet, so no index
        assert model["speed_index"] is None and points == []
        return
    assert model["speed_index"] == sentinel["speed_index"] == 1.0
    (point,) = points
    assert point["measurement_id"] == sentinel["id"] and point["speed_index"] == 1.0
    assert point["sentinel_ms"] == sentinel["median_ms"] > 0


def _instant(timestamp: str) -> datetime:
    """An API timestamp as a time: ISO 8601 leaves out a zero fraction, so strings do not sort."""
    return datetime.fromisoformat(timestamp)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_worker_pauses_while_the_agent_beside_it_measures(stack: Stack, new_device) -> None:  # type: ignore[no-untyped-def]
    device_id, token = new_device("cpu-shared")
    stack.seed_lookup_table(device_id, BATCH)
    worker = stack.start_worker()
    agent = stack.start_agent("agent-shared", token, *HOLDING_POLICY)
    api = stack.api()
    search = api.post(
        "/searches",
        {"device_id": device_id, "budget_ms": 1000.0, "estimator": "unas", "config": SEARCH},
    )
    deadline = time.monotonic() + 240
    while True:
        measured = [
            j
            for j in api.get("/jobs", device_id=device_id, state="succeeded")
            if j["kind"] == "network"
        ]
        if len(measured) >= 2:
            break
        state = api.get(f"/searches/{search['id']}")
        assert state["state"] in ("pending", "running"), state
        assert time.monotonic() < deadline, (worker.log_tail(), agent.log_tail())
        time.sleep(1)
    api.post(f"/searches/{search['id']}/cancel")
    waits = [
        float(w) for w in re.findall(r"waited ([0-9.]+) s for a training step", agent.log_tail(400))
    ]
    pauses = [
        float(p)
        for p in re.findall(r"paused ([0-9.]+) s while the device's agent", worker.log_tail(4000))
    ]
    assert waits, agent.log_tail()
    assert pauses and max(pauses) >= 0.25, worker.log_tail()
