"""A real agent process serving a real API: uploaded models, networks, lookup tables."""

from __future__ import annotations

import time

import pytest

from latency_db.spaces import get_space


def test_agent_enrolls_and_measures_an_uploaded_model(stack, new_device, upload_model) -> None:
    device_id, token = new_device("cpu-a")
    agent = stack.start_agent("agent-a", token)
    artifact = upload_model()
    api = stack.api()
    job = stack.submit_model_job(device_id, artifact["sha256"])
    done = stack.wait_job(job["id"])
    assert done["state"] == "succeeded", (done, agent.log_tail())
    measurement = stack.measurement_of(done)
    assert measurement["subject_kind"] == "model"
    assert len(measurement["times_ms"]) >= 5
    assert min(measurement["times_ms"]) == pytest.approx(measurement["min_ms"])
    assert measurement["environment"]["cpu_model"]
    (enrolled,) = api.get(f"/devices/{device_id}/agents")
    assert enrolled["state"] == "online" and enrolled["last_heartbeat_at"]


@pytest.mark.slow
def test_lookup_table_network_and_layer_profile_through_the_worker(stack, new_device) -> None:
    device_id, token = new_device("cpu-b")
    stack.start_worker()
    stack.start_agent("agent-b", token)
    api = stack.api()
    space = get_space("proxyless", 32, 0.35, 10)
    build = {
        "device_id": device_id,
        "runtime": stack.runtime,
        "space": "proxyless",
        "resolution": 32,
        "width_mult": 0.35,
        "num_classes": 10,
        "batch_size": 2,
    }
    status = api.post("/lookup-tables/build", build)
    assert status["progress"]["total"] == len(space.all_op_keys())
    again = api.post("/lookup-tables/build", build)
    assert again["created_jobs"] == 0  # building twice queues nothing new
    arch = space.format(space.sample(3))
    jobs = [
        api.post(
            "/jobs",
            {
                "device_id": device_id,
                "runtime": stack.runtime,
                "kind": kind,
                "space_ref": space.ref,
                "architecture": arch,
                "batch_size": 2,
            },
        )
        for kind in ("network", "layers")
    ]
    query = {
        "device_id": device_id,
        "runtime_config_id": status["runtime_config_id"],
        "space_ref": space.ref,
        "batch_size": 2,
        # however busy this machine is: every key's entry, whatever its verdict
        "include": ["unstable", "disturbed"],
    }
    deadline = time.monotonic() + 600
    while (table := api.get("/lookup-tables", **query))["progress"]["measured"] < len(
        space.all_op_keys()
    ):
        assert table["progress"]["failed"] == 0, table["progress"]
        assert time.monotonic() < deadline, table["progress"]
        time.sleep(1)
    assert set(table["entries"]) == set(space.all_op_keys())
    assert table["unclean_entries"] == table["progress"]["unclean"]  # each key measured once
    network, layers = (stack.wait_job(j["id"], 300) for j in jobs)
    assert network["state"] == layers["state"] == "succeeded"
    measured = stack.measurement_of(network)
    (lut,) = api.post("/lookup-tables/latency", {**query, "architectures": [arch]})
    expected = sum(table["entries"][k]["median_ms"] for k in space.op_keys(space.parse(arch)))
    assert lut["lut_ms"] == pytest.approx(expected)
    assert measured["median_ms"] > 0
    profile = stack.measurement_of(layers)["layer_profile"]
    assert {"stem", "feature_mix", "classifier"} <= set(profile["blocks"])


def test_agent_survives_a_server_restart(stack, new_device, upload_model) -> None:
    device_id, token = new_device("cpu-c")
    stack.start_agent("agent-c", token)
    stack.api()
    artifact = upload_model()
    first = stack.submit_model_job(device_id, artifact["sha256"])
    assert stack.wait_job(first["id"])["state"] == "succeeded"
    server = stack.server
    server.stop()
    time.sleep(2)  # the agent's claim and heartbeat now fail and back off
    stack.children.remove(server)
    stack.start_server()
    second = stack.submit_model_job(device_id, artifact["sha256"])
    assert stack.wait_job(second["id"], 180)["state"] == "succeeded"
