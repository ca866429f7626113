"""Run a CLI test both ways: on the embedded database, and through the in-process API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latency_db.settings import Settings
from services.app import create_app

from .conftest import ADMIN_TOKEN


@contextmanager
def cli_on(mode: str, request: pytest.FixtureRequest, local_cli: Path) -> Iterator[TestClient]:
    """Point the CLI at the embedded database of ``local_cli`` or at the ``client`` app; yield
    an API client of the database the CLI works on (to arrange and check through the API)."""
    if mode == "api":
        request.getfixturevalue("cli_server")
        request.getfixturevalue("monkeypatch").setenv("HWNAS_API_TOKEN", ADMIN_TOKEN)
        yield request.getfixturevalue("client")
        assert not (local_cli / "hwnas.sqlite3").exists(), "the CLI must not open a local database"
        return
    settings = Settings(data_dir=local_cli, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield client
