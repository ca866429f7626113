"""Where a CLI action runs: on the embedded (or ``HWNAS_DATABASE_URL``) database in one
transaction, or through the REST API when ``HWNAS_SERVER_URL`` is set, authenticated with
the user token ``HWNAS_API_TOKEN``. Both paths call the same ``latency_db`` functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import httpx
import typer
from sqlalchemy.orm import Session

from latency_db.db import ensure_schema, make_engine, make_session_factory, session_scope
from latency_db.errors import DomainError
from latency_db.settings import Settings
from latency_db.spaces import SearchSpace, resolve_space
from services.cli.api_client import ApiClient, ApiRefused
from services.errors import ApiError

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        fail(f"cannot read {path}: {err}")


def device_id_by_name(api: ApiClient, name: str) -> str:
    """The id of the server's device called ``name`` (a clear error if there is none)."""
    for device in api.get("/devices"):
        if device["name"] == name:
            return str(device["id"])
    fail(f"device {name!r} not found")


def space_option(name: str, resolution: int | None, width_mult: float | None) -> SearchSpace:
    try:
        return resolve_space(name, resolution, width_mult)
    except ValueError as err:
        fail(f"space: {err}")


def run_action(
    settings: Settings,
    *,
    local: Callable[[Session], T],
    remote: Callable[[ApiClient], T],
) -> T:
    """``local(session)`` in one transaction, or ``remote(api)`` against the server."""
    try:
        if settings.server_url:
            return _remote(settings, settings.server_url, remote)
        engine = make_engine(settings)
        try:
            ensure_schema(engine)
            with session_scope(make_session_factory(engine)) as session:
                return local(session)
        finally:
            engine.dispose()
    except (DomainError, ApiError, ApiRefused, httpx.HTTPError) as err:
        fail(str(err))


def _remote(settings: Settings, url: str, remote: Callable[[ApiClient], T]) -> T:
    if not settings.api_token:
        fail("HWNAS_SERVER_URL is set but HWNAS_API_TOKEN is not: set your API token")
    api = ApiClient(url, settings.api_token)
    try:
        return remote(api)
    finally:
        api.close()
