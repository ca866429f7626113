"""Entry point of the ``hwnas`` command: one sub-app per resource."""

from __future__ import annotations

from typing import Annotated

import typer
from alembic.util.exc import CommandError
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

import hwnas
from latency_db import migrate
from latency_db.settings import get_settings
from services.cli import (
    agent_commands,
    dataset_commands,
    device_commands,
    login_command,
    lut_commands,
    measurement_commands,
    predictor_commands,
    profile_command,
    search_commands,
    space_commands,
    stack_commands,
    team_commands,
)
from services.cli.demo import DemoOptions, demo_threads, run_demo
from services.cli.dispatch import database_unreachable, fail
from services.cli.output import emit_json

app = typer.Typer(
    help="hwnas: hardware-aware neural architecture search.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(space_commands.app, name="space")
app.add_typer(device_commands.app, name="device")
app.add_typer(agent_commands.app, name="agent")
app.add_typer(lut_commands.app, name="lut")
app.add_typer(measurement_commands.app, name="measurement")
app.add_typer(measurement_commands.app, name="measurements", hidden=True)  # the old name
app.add_typer(predictor_commands.app, name="predictor")
app.add_typer(search_commands.app, name="search")
app.add_typer(dataset_commands.app, name="dataset")
app.add_typer(team_commands.app, name="team")
app.command("profile")(profile_command.profile)
app.command("login")(login_command.login)
app.command("server")(stack_commands.server)
app.command("worker")(stack_commands.worker)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hwnas {hwnas.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """hwnas: hardware-aware neural architecture search."""


db_app = typer.Typer(help="The latency database: migrations.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Migrate HWNAS_DATABASE_URL (or the embedded SQLite file) to a revision."""
    settings = get_settings()
    url = settings.effective_database_url
    try:
        migrate.upgrade(url, revision)
        current = migrate.current(url)
    except OperationalError as err:
        fail(database_unreachable(settings, err))
    except CommandError as err:
        fail(f"revision {revision!r}: {err}")
    shown = make_url(url).render_as_string(hide_password=True)
    if as_json:
        emit_json({"database": shown, "revision": current})
    else:
        typer.echo(f"{shown}: at {current}")


@app.command("demo")
def demo(
    quick: Annotated[bool, typer.Option(help="64x64 at batch 8, a 20-step search (CI)")] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            help="ONNX Runtime intra-op threads (default: the usable cores but one, which the "
            "demo's own API and worker run on)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the random architecture")] = 0,
    lut: Annotated[bool, typer.Option(help="build the device's lookup table")] = True,
    include_unclean: Annotated[
        bool, typer.Option(help="fit and search on unstable/disturbed measurements too")
    ] = False,
    serve: Annotated[
        bool, typer.Option(help="keep the stack up afterwards for the dashboard, until Ctrl-C")
    ] = False,
) -> None:
    """Run the main job end to end on embedded defaults (SQLite, local broker, CPU agent)."""
    resolution = 64 if quick else 224
    options = DemoOptions(
        resolution=resolution,
        batch_size=8 if quick else 32,
        threads=threads or demo_threads(),
        seed=seed,
        lut_resolution=resolution if lut else None,
        search_steps=20 if quick else 60,
        predictor_networks=8 if quick else 12,
        include_unclean=include_unclean,
        serve=serve,
        lut_remeasure_rounds=0 if quick else DemoOptions.lut_remeasure_rounds,
        # Adaptive stopping capped at 3 s a measurement: 85 measurements would take 15
        # minutes at the agent's 10 s default. The CI variant times at least 0.3 s (0.5 s at
        # most) after 0.1 s of warm-up, thousands of runs of a 64x64 op, and reports a
        # disturbed phase as it is (verdict kept) instead of waiting for quiet and re-measuring
        # (an unclean op key is not measured again either).
        agent_options=(
            (
                *("--warmup-seconds", "0.1", "--seconds", "0.3", "--max-seconds", "0.5"),
                *("--max-disturbed-tries", "1"),
            )
            if quick
            else ("--max-seconds", "3")
        ),
    )
    run_demo(get_settings(), options)


if __name__ == "__main__":
    app()
