"""The real FastAPI app on a SQLite file, driven in-process over ASGI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latency_db.settings import Settings
from services.app import create_app

ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, max_upload_bytes=1 << 20)
    with TestClient(create_app(settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield test_client
