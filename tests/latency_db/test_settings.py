"""Settings: embedded defaults, HWNAS_ overrides, validation, nothing read at import time."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from latency_db.broker import celery_config
from latency_db.settings import MIB, Settings, get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HWNAS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = get_settings()
    home = tmp_path / "home"
    assert settings.data_dir == home / ".hwnas"
    assert settings.effective_database_url == f"sqlite:///{home / '.hwnas' / 'hwnas.sqlite3'}"
    assert settings.is_embedded_database
    assert settings.artifact_dir == home / ".hwnas" / "artifacts"
    assert settings.broker_url is None and settings.admin_token is None
    assert settings.max_upload_bytes == 256 * MIB
    assert (settings.lease_seconds, settings.heartbeat_seconds, settings.max_attempts) == (
        60,
        10,
        3,
    )
    assert (settings.agent_stale_seconds, settings.agent_offline_seconds) == (30, 120)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HWNAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HWNAS_DATABASE_URL", "postgresql+psycopg://u@db/hwnas")
    monkeypatch.setenv("HWNAS_LEASE_SECONDS", "5")
    monkeypatch.setenv("HWNAS_BROKER_URL", "redis://127.0.0.1:6379/0")
    settings = get_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.artifact_dir == tmp_path / "data" / "artifacts"
    assert settings.effective_database_url == "postgresql+psycopg://u@db/hwnas"
    assert not settings.is_embedded_database
    assert settings.lease_seconds == 5
    assert celery_config(settings)["broker_url"] == "redis://127.0.0.1:6379/0"


def test_factory_reads_the_environment_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("HWNAS_MAX_ATTEMPTS", "7")
    assert get_settings().max_attempts == 7
    assert first.max_attempts == 3


def test_embedded_broker_lives_in_the_data_dir(tmp_path: Path) -> None:
    config = celery_config(Settings(data_dir=tmp_path))
    assert config["broker_url"] == "filesystem://"
    assert (tmp_path / "broker" / "queue").is_dir()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lease_seconds", "0"),
        ("heartbeat_seconds", "-1"),
        ("max_upload_bytes", "0"),
        ("max_attempts", "zero"),
        ("agent_offline_seconds", "10"),  # not after the stale threshold (30)
    ],
)
def test_bad_values_are_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(f"HWNAS_{field.upper()}", value)
    with pytest.raises(pydantic.ValidationError, match=field):
        get_settings()
