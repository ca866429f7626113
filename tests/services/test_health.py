"""The health endpoint checks the database and the broker."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from latency_db.settings import Settings
from services import processes
from services.app import create_app


def test_healthy_with_the_embedded_broker(client: TestClient) -> None:
    reply = client.get("/v1/health")
    assert reply.status_code == 200
    assert reply.json() == {"database": "sqlite", "broker": "ok", "status": "ok"}


def test_an_unreachable_broker_is_503_naming_it(tmp_path: Path) -> None:
    closed = f"redis://127.0.0.1:{processes.free_port()}/0"
    settings = Settings(data_dir=tmp_path, broker_url=closed)
    with TestClient(create_app(settings)) as client:
        reply = client.get("/v1/health")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "unavailable" and body["broker"] != "ok"
