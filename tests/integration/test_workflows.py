"""The CLI's multi-step flows (demo, benchmarks) against a real server, worker and agent:
export before measuring, and measurements reused on a rerun."""

from __future__ import annotations

import pytest

from latency_db.spaces import get_space
from services.cli.workflows import Target, build_lookup_table, measure_missing

BATCH = 4


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_measure_missing_exports_first_and_reuses_measurements(stack, new_device) -> None:
    device_id, token = new_device("cpu-flow")
    stack.start_worker()
    stack.start_agent("agent-flow", token)
    api = stack.api()
    space = get_space("proxyless", 32, 0.35, 10)
    target = Target(device_id, stack.runtime, BATCH)
    table = build_lookup_table(api, target, space, timeout_s=300)
    runtime_id = table["query"]["runtime_config_id"]
    archs = [space.format(space.sample(seed)) for seed in range(4)]

    first = measure_missing(api, target, space, archs[:3], runtime_id, timeout_s=300)
    assert [m["subject"] for m in first] == archs[:3]
    assert api.get(f"/devices/{device_id}")["state"] == "active"
    jobs = api.get("/jobs", device_id=device_id)
    network_jobs = [j for j in jobs if j["kind"] == "network"]
    assert len(network_jobs) == 3 and all(j["artifact_sha256"] for j in network_jobs)
    measured = [api.get(f"/measurements/{m['id']}") for m in first]
    assert all(m["median_ms"] > 0 for m in measured)

    again = measure_missing(api, target, space, archs, runtime_id, timeout_s=300)
    assert [m["subject"] for m in again] == archs
    assert [m["id"] for m in again[:3]] == [m["id"] for m in first]
    after = [j for j in api.get("/jobs", device_id=device_id) if j["kind"] == "network"]
    assert len(after) == 4  # only the missing architecture was queued
