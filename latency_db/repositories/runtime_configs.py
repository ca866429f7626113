"""Runtime configurations: the same backend + version + settings is always the same row."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import ValidationError
from latency_db.models import RuntimeConfig
from latency_db.repositories.common import (
    check_json,
    check_name,
    get_or_not_found,
    insert_or_existing,
)


def settings_hash(settings: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``settings`` (sorted keys, no whitespace)."""
    check_json(settings, "settings")
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def get_or_create_runtime_config(
    *,
    session: Session,
    backend: str,
    settings: dict[str, Any],
    runtime_version: str = "",
) -> RuntimeConfig:
    """The row for this configuration, created on first use (safe under concurrency)."""
    backend = check_name(backend, "backend", 32)
    if not isinstance(settings, dict):
        raise ValidationError("settings must be a JSON object")
    if len(runtime_version) > 64:
        raise ValidationError("runtime_version is longer than 64 characters")
    digest = settings_hash(settings)
    stmt = select(RuntimeConfig).where(
        RuntimeConfig.backend == backend,
        RuntimeConfig.runtime_version == runtime_version,
        RuntimeConfig.settings_hash == digest,
    )
    found = session.scalars(stmt).first()
    if found is not None:
        return found
    config = RuntimeConfig(
        backend=backend,
        runtime_version=runtime_version,
        settings=settings,
        settings_hash=digest,
        created_at=db_now(session),
    )
    return insert_or_existing(session, config, lambda: session.scalars(stmt).first())


def get_runtime_config(*, session: Session, runtime_config_id: str) -> RuntimeConfig:
    return get_or_not_found(session, RuntimeConfig, runtime_config_id, "runtime config")


def list_runtime_configs(*, session: Session) -> list[RuntimeConfig]:
    return list(session.scalars(select(RuntimeConfig).order_by(RuntimeConfig.id)))
