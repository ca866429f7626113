"""``hwnas server`` and ``hwnas worker``: the long-running processes of the service."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
import uvicorn

app = typer.Typer()


@app.command("server")
def server(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the REST API (SQLite under HWNAS_DATA_DIR unless HWNAS_DATABASE_URL is set)."""
    uvicorn.run("services.app:create_app", factory=True, host=host, port=port)


@app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Run a search/export worker on HWNAS_BROKER_URL (embedded broker when unset).

    The worker is its own program (``python -m search_worker``): the API never imports it.
    """
    argv = [sys.executable, "-m", "search_worker", f"--concurrency={concurrency}"]
    os.execv(sys.executable, argv)
