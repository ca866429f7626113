"""``hwnas login``: keep a server and a user token in the config file (:mod:`hwnas.config`),
an alternative to ``HWNAS_SERVER_URL`` and ``HWNAS_API_TOKEN`` (which win when set)."""

from __future__ import annotations

from typing import Annotated

import typer

from hwnas import Client, HwnasError
from hwnas.config import ClientConfig, config_path, write_config_file
from services.cli.dispatch import fail
from services.cli.output import emit_json


def login(
    server: Annotated[str, typer.Option(help="the server's URL, e.g. http://127.0.0.1:8000")],
    token: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            help="your API token (the admin token of 'hwnas server', or one it issued)",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Check the token against the server and save both for later commands."""
    if not server.startswith(("http://", "https://")):
        fail(f"--server {server!r}: give a URL starting with http:// or https://")
    try:
        with Client(server, token, retries=0, timeout_s=15) as client:
            user = client.whoami()
    except HwnasError as err:
        fail(f"login to {server} refused: {err}")
    try:
        path = write_config_file(ClientConfig(server.rstrip("/"), token))
    except OSError as err:
        fail(f"cannot write {config_path()}: {err.strerror}")
    if as_json:
        emit_json({"server_url": server.rstrip("/"), "user": user, "config": str(path)})
    else:
        typer.echo(f"logged in to {server} as {user['name']}; saved in {path}")
