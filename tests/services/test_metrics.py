"""Prometheus metrics on the real app: requests by route template and status, the work in
the database by state, one registry per app."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from latency_db.settings import Settings
from services.app import create_app
from services.metrics import DatabaseCollector

from .conftest import RUNTIME, Measured

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    """``GET /metrics`` (no token) as {(sample name, labels): value}."""
    reply = client.get("/metrics", headers={"Authorization": ""})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_requests_are_counted_by_route_template_and_status(client: TestClient) -> None:
    assert client.get("/v1/devices").status_code == 200
    assert client.get("/v1/devices/dev-123").status_code == 404
    assert client.get("/v1/devices", headers={"Authorization": ""}).status_code == 401
    assert client.get("/v1/devices", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/no/such/path").status_code == 404
    samples = scrape(client)
    count = "hwnas_http_requests_total"
    assert value(samples, count, method="GET", route="/v1/devices", status="200") == 1
    assert value(samples, count, method="GET", route="/v1/devices", status="401") == 2
    assert value(samples, count, method="GET", route="/v1/devices/{device_id}", status="404") == 1
    assert value(samples, count, method="GET", route="<unmatched>", status="404") == 1
    timed = "hwnas_http_request_duration_seconds_count"
    assert value(samples, timed, method="GET", route="/v1/devices") == 3
    assert not any("dev-123" in str(labels) for _, labels in samples)


def test_work_is_counted_by_state(client: TestClient, measured: Measured) -> None:
    created = client.post("/v1/devices", json={"name": "cpu-1", "kind": "cpu"}).json()
    enroll = {"enrollment_token": created["enrollment"]["token"], "name": "a", "backend": "ort-cpu"}
    assert client.post("/v1/agents/enroll", json=enroll).status_code == 201
    job = {
        "device_id": created["device"]["id"],
        "runtime": RUNTIME,
        "kind": "network",
        "space_ref": measured.space.ref,
        "architecture": measured.space.format(measured.space.sample(0)),
    }
    assert client.post("/v1/jobs", json=job).status_code == 201
    search = {
        "device_id": measured.device_id,
        "budget_ms": 20.0,
        "estimator": "proxyless",
        "config": {"deploy_resolution": 32, "deploy_width": 0.35, "deploy_classes": 10},
    }
    searches = [client.post("/v1/searches", json=search).json()["id"] for _ in range(2)]
    assert client.post(f"/v1/searches/{searches[0]}/cancel").status_code == 200
    fit = {"device_id": measured.device_id, "space_ref": measured.space.ref, "kind": "lut"}
    assert client.post("/v1/predictors/fits", json=fit).status_code == 202
    samples = scrape(client)
    assert value(samples, "hwnas_profiling_jobs", state="queued") == 1
    assert value(samples, "hwnas_profiling_jobs", state="leased") == 0
    assert value(samples, "hwnas_searches", state="pending") == 1
    assert value(samples, "hwnas_searches", state="canceled") == 1
    assert value(samples, "hwnas_predictor_fits", state="queued") == 1
    assert value(samples, "hwnas_agents", state="online") == 1
    assert value(samples, "hwnas_devices", state="active") == 2
    assert value(samples, "hwnas_devices", state="disabled") == 0
    assert value(samples, "hwnas_database_up") == 1


def test_an_unreadable_database_reports_down(tmp_path: Path) -> None:
    empty = create_engine(f"sqlite:///{tmp_path / 'no-tables.sqlite3'}")
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(sessionmaker(empty)))
    assert registry.get_sample_value("hwnas_database_up") == 0
    assert registry.get_sample_value("hwnas_searches", {"state": "pending"}) is None
    empty.dispose()


def test_each_app_has_its_own_registry(client: TestClient, tmp_path: Path) -> None:
    other = create_app(Settings(data_dir=tmp_path / "other"))
    with TestClient(other) as other_client:
        assert other_client.get("/v1/devices").status_code == 401
        client.get("/v1/devices")
        mine, theirs = scrape(client), scrape(other_client)
    count = "hwnas_http_requests_total"
    assert value(mine, count, method="GET", route="/v1/devices", status="200") == 1
    assert value(mine, count, method="GET", route="/v1/devices", status="401") is None
    assert value(theirs, count, method="GET", route="/v1/devices", status="401") == 1
