"""``hwnas server`` and ``hwnas worker``: the long-running processes of the service."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.exc import OperationalError

from latency_db.db import ensure_schema, make_engine, make_session_factory, session_scope
from latency_db.repositories.users import MIN_TOKEN_CHARS
from latency_db.settings import Settings, get_settings
from services.bootstrap import ensure_admin
from services.cli.dispatch import database_unreachable, fail
from services.metrics import multiprocess_dir

app = typer.Typer()


@app.command("server")
def server(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    shutdown_grace_s: Annotated[
        int,
        typer.Option(
            help="on SIGTERM, the most seconds in-flight requests get to finish (long-polls "
            "answer at their next read, within 2 s)"
        ),
    ] = 3,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="server processes sharing the port (PostgreSQL only); one process uses at "
            "most one core, whatever its threads",
        ),
    ] = 1,
) -> None:
    """Run the REST API (SQLite under HWNAS_DATA_DIR unless HWNAS_DATABASE_URL is set).

    Users authenticate with HWNAS_ADMIN_TOKEN (at least 16 characters), or with tokens
    issued through POST /v1/users and /v1/tokens."""
    settings = get_settings()
    if workers > 1 and settings.is_embedded_database:
        fail(
            f"--workers {workers} needs PostgreSQL (HWNAS_DATABASE_URL): the embedded SQLite "
            "database takes one writer at a time; run one worker"
        )
    _prepare_database(settings)
    with _shared_metrics(workers):
        uvicorn.run(
            "services.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            timeout_graceful_shutdown=shutdown_grace_s,
        )


def _prepare_database(settings: Settings) -> None:
    """Refuse in one line what would stop the API on start (a short admin token, an
    unreachable or unmigrated database); otherwise migrate an embedded database and register
    the admin token once, here, before any worker process starts racing to do it."""
    token = settings.admin_token
    if token and len(token) < MIN_TOKEN_CHARS:
        fail(
            f"HWNAS_ADMIN_TOKEN has {len(token)} characters, an API token needs at least "
            f"{MIN_TOKEN_CHARS}: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    engine = make_engine(settings)
    try:
        with engine.connect():
            pass
        ensure_schema(engine)
        if token:
            with session_scope(make_session_factory(engine)) as session:
                ensure_admin(session, token)
    except OperationalError as err:
        fail(database_unreachable(settings, err))
    except RuntimeError as err:  # not at the code's migration
        fail(str(err))
    finally:
        engine.dispose()


@contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, a fresh folder for their Prometheus metrics (unless the operator
    named one in PROMETHEUS_MULTIPROC_DIR), set in the environment the workers inherit."""
    if workers == 1 or multiprocess_dir() is not None:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="hwnas-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


@app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Run a search/export worker on HWNAS_BROKER_URL (embedded broker when unset).

    The worker is its own program ('python -m search_worker'): the API never imports it.
    """
    argv = [sys.executable, "-m", "search_worker", f"--concurrency={concurrency}"]
    os.execv(sys.executable, argv)
