"""Where a CLI action runs: on the embedded (or ``HWNAS_DATABASE_URL``) database in one
transaction, or through the REST API (:class:`hwnas.Client`) when a server is configured:
``HWNAS_SERVER_URL`` and the user token ``HWNAS_API_TOKEN``, or what ``hwnas login`` saved.
Both paths call the same ``latency_db`` functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import httpx
import typer
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from hwnas import Client, HwnasError
from hwnas.config import ClientConfig, read_config_file
from latency_db.db import ensure_schema, make_engine, make_session_factory, session_scope
from latency_db.errors import DomainError
from latency_db.settings import Settings
from latency_db.spaces import SearchSpace, resolve_space
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


def device_id_by_name(api: Client, name: str) -> str:
    """The id of the server's device called ``name`` (a clear error if there is none)."""
    try:
        return str(api.devices.find(name)["id"])
    except HwnasError as err:
        fail(str(err))


def space_option(name: str, resolution: int | None, width_mult: float | None) -> SearchSpace:
    try:
        return resolve_space(name, resolution, width_mult)
    except ValueError as err:
        fail(f"space: {err}")


def run_action(
    settings: Settings,
    *,
    local: Callable[[Session], T],
    remote: Callable[[Client], T],
) -> T:
    """``local(session)`` in one transaction, or ``remote(api)`` against the server."""
    try:
        server = client_config(settings)
        if server.server_url:
            return _remote(server, remote)
        engine = make_engine(settings)
        try:
            ensure_schema(engine)
            with session_scope(make_session_factory(engine)) as session:
                return local(session)
        finally:
            engine.dispose()
    except (DomainError, ApiError, HwnasError, httpx.HTTPError) as err:
        fail(str(err))
    except OperationalError as err:
        fail(database_unreachable(settings, err))


def database_unreachable(settings: Settings, err: OperationalError) -> str:
    """One line naming the database (password hidden), the driver's reason and the fix."""
    url = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    reason = str(err.orig or err).strip().splitlines()[0]
    return (
        f"database {url} unreachable: {reason}; check HWNAS_DATABASE_URL (unset: embedded SQLite)"
    )


def client_config(settings: Settings) -> ClientConfig:
    """The server and token of the environment (``settings``), else of ``hwnas login``."""
    try:
        saved = read_config_file()
    except ValueError as err:
        fail(f"{err}; fix or delete the file, or run 'hwnas login' again")
    return ClientConfig(
        settings.server_url or saved.server_url, settings.api_token or saved.api_token
    )


def _remote(server: ClientConfig, remote: Callable[[Client], T]) -> T:
    if not server.api_token:
        fail("a server is set but no token: set HWNAS_API_TOKEN or run 'hwnas login'")
    assert server.server_url is not None
    api = Client(server.server_url, server.api_token)
    try:
        return remote(api)
    finally:
        api.close()
