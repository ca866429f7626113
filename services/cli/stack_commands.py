"""``hwnas server`` and ``hwnas worker``: the long-running processes of the service."""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.exc import OperationalError

from latency_db.db import make_engine
from latency_db.repositories.users import MIN_TOKEN_CHARS
from latency_db.settings import Settings, get_settings
from services.cli.dispatch import database_unreachable, fail
from services.long_polls import server_stopping

app = typer.Typer()


class _Server(uvicorn.Server):
    """Uvicorn that tells the long-polls to answer as soon as it is asked to stop."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        server_stopping.set()
        super().handle_exit(sig, frame)


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
) -> None:
    """Run the REST API (SQLite under HWNAS_DATA_DIR unless HWNAS_DATABASE_URL is set).

    Users authenticate with HWNAS_ADMIN_TOKEN (at least 16 characters), or with tokens
    issued through POST /v1/users and /v1/tokens."""
    _check_server_settings(get_settings())
    config = uvicorn.Config(
        "services.app:create_app",
        factory=True,
        host=host,
        port=port,
        timeout_graceful_shutdown=shutdown_grace_s,
    )
    _Server(config).run()


def _check_server_settings(settings: Settings) -> None:
    """Refuse in one line what would stop the API on start: a short admin token, an
    unreachable database."""
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
    except OperationalError as err:
        fail(database_unreachable(settings, err))
    finally:
        engine.dispose()


@app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Run a search/export worker on HWNAS_BROKER_URL (embedded broker when unset).

    The worker is its own program ('python -m search_worker'): the API never imports it.
    """
    argv = [sys.executable, "-m", "search_worker", f"--concurrency={concurrency}"]
    os.execv(sys.executable, argv)
