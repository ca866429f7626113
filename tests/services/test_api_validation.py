"""Bad input gets a JSON 4xx naming the field and changes nothing (design section 8.7)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import BOTH_DATABASES

pytestmark = pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)

RUNTIME = {"backend": "ort-cpu", "settings": {"threads": 1}}


def _device(client: TestClient) -> str:
    return str(
        client.post("/v1/devices", json={"name": "cpu-1", "kind": "cpu"}).json()["device"]["id"]
    )


def _network_job(
    client: TestClient, device_id: str, arch: str, space_ref: str = "proxyless-r224-w1-c1000"
):
    return client.post(
        "/v1/jobs",
        json={
            "device_id": device_id,
            "runtime": RUNTIME,
            "kind": "network",
            "space_ref": space_ref,
            "architecture": arch,
        },
    )


def test_malformed_architectures_are_422_naming_the_layer(client: TestClient) -> None:
    device_id = _device(client)
    short = _network_job(client, device_id, "k3_e6 k5_e3")
    assert short.status_code == 422
    assert short.json()["details"][0]["field"] == "architecture"
    assert "21" in short.json()["message"]
    zero_first = _network_job(client, device_id, " ".join(["zero"] + ["k3_e6"] * 20))
    assert zero_first.status_code == 422 and "layer 0" in zero_first.json()["message"]
    unknown_op = _network_job(client, device_id, " ".join(["k9_e6"] + ["k3_e6"] * 20))
    assert unknown_op.status_code == 422 and "k9_e6" in unknown_op.json()["message"]
    bad_space = _network_job(client, device_id, "k3_e6", space_ref="resnet-r224-w1-c1000")
    assert bad_space.status_code == 422 and bad_space.json()["details"][0]["field"] == "space_ref"
    assert client.get("/v1/jobs").json() == []


def test_unknown_device_is_404_and_schema_errors_name_fields(client: TestClient) -> None:
    missing = _network_job(client, "no-such-device", " ".join(["k3_e6"] * 21))
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad_body = client.post("/v1/devices", json={"name": "", "kind": "toaster"})
    assert bad_body.status_code == 422
    fields = {d["field"] for d in bad_body.json()["details"]}
    assert {"name", "kind"} <= fields
    extra = client.post("/v1/devices", json={"name": "x", "kind": "cpu", "colour": "red"})
    assert extra.status_code == 422
    assert client.get("/v1/devices").json() == []


def test_duplicate_device_is_409_and_tokens_are_required(client: TestClient) -> None:
    _device(client)
    again = client.post("/v1/devices", json={"name": "cpu-1", "kind": "cpu"})
    assert again.status_code == 409
    anonymous = client.get("/v1/devices", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    wrong = client.get("/v1/devices", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"


def test_lookup_table_build_is_idempotent_and_counts_every_key(client: TestClient) -> None:
    device_id = _device(client)
    body = {"device_id": device_id, "runtime": RUNTIME, "space": "proxyless", "resolution": 224}
    first = client.post("/v1/lookup-tables/build", json=body)
    assert first.status_code == 202
    assert first.json()["created_jobs"] == first.json()["progress"]["total"] == 70
    second = client.post("/v1/lookup-tables/build", json=body).json()
    assert second["created_jobs"] == 0 and second["progress"]["queued"] == 70
    negative = client.post("/v1/lookup-tables/build", json={**body, "batch_size": -1})
    assert negative.status_code == 422 and negative.json()["details"][0]["field"] == "batch_size"


def test_integers_past_what_a_database_binds_are_422(client: TestClient) -> None:
    """Found by the OpenAPI fuzz: a 2**63 offset overflowed the SQL bind (500)."""
    huge = str(2**63)
    for path, param in [
        ("/v1/jobs", "offset"),
        ("/v1/measurements", "offset"),
        ("/v1/searches", "offset"),
        ("/v1/searches/any/events", "after"),
        ("/v1/lookup-tables", "batch_size"),
    ]:
        params = {"device_id": "d", "space_ref": "proxyless-r224-w1-c1000", param: huge}
        reply = client.get(path, params=params)
        assert reply.status_code == 422, (path, reply.text)
        assert reply.json()["details"][0]["field"] == f"query.{param}"
    latency = {"device_id": "d", "runtime_config_id": "r", "space_ref": "s", "architectures": ["a"]}
    reply = client.post("/v1/lookup-tables/latency", json={**latency, "batch_size": int(huge)})
    assert reply.status_code == 422 and reply.json()["details"][0]["field"] == "batch_size"


def test_nul_characters_are_422_naming_where_they_were(client: TestClient) -> None:
    """PostgreSQL text cannot hold NUL: in a path, a query or a body it was a 500 there."""
    for reply, field in [
        (client.get("/v1/devices/a%00b"), "device_id"),
        (client.get("/v1/jobs", params={"device_id": "\x00"}), "device_id"),
        (client.post("/v1/tokens", json={"label": "a\x00b"}), "label"),
        (
            client.post(
                "/v1/devices", json={"name": "d", "kind": "cpu", "attributes": {"k": ["\x00"]}}
            ),
            "attributes.k.0",
        ),
    ]:
        assert reply.status_code == 422, reply.text
        assert reply.json()["details"] == [
            {"field": field, "problem": "must not contain NUL (\\u0000) characters"}
        ]
    assert client.get("/v1/devices").json() == []
    assert len(client.get("/v1/tokens").json()) == 1  # the admin's own
