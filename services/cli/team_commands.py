"""``hwnas team``: teams, whose members see and use the devices shared with them ('hwnas
device share'). Locally the CLI acts as the admin."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from hwnas import Client, HwnasError
from latency_db.repositories import teams as team_repo
from latency_db.settings import get_settings
from services import teams as service
from services.bootstrap import admin_user
from services.cli.dispatch import fail, run_action
from services.cli.output import emit_json, emit_table

app = typer.Typer(help="Teams: add, list, add-member, remove-member.")

TeamArgument = Annotated[str, typer.Argument(help="the team's name")]
UserArgument = Annotated[str, typer.Argument(help="a user's name")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def team_id_by_name(api: Client, name: str) -> str:
    """The id of the caller's team called ``name`` (a clear error if there is none)."""
    try:
        return str(api.teams.find(name)["id"])
    except HwnasError as err:
        fail(f"{err} (hwnas team list)")


def _row(team: dict[str, Any]) -> dict[str, Any]:
    """A team as a table row: its members in one cell."""
    return {**team, "members": ", ".join(team["members"])}


def _show(team: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(team)
        return
    emit_table("team", [_row(team)], ("name", "id", "members"))


@app.command("add")
def add(name: TeamArgument, as_json: JsonOption = False) -> None:
    """A new team with you as its first member."""

    def local(session: Session) -> dict[str, Any]:
        team = team_repo.create_team(session=session, name=name, creator=admin_user(session))
        return service.team_out(session, team).model_dump(mode="json")

    _show(
        run_action(get_settings(), local=local, remote=lambda api: api.teams.create(name)),
        as_json,
    )


@app.command("list")
def list_teams(as_json: JsonOption = False) -> None:
    """Your teams and their members."""

    def local(session: Session) -> list[dict[str, Any]]:
        teams = team_repo.list_teams(session=session, viewer=admin_user(session))
        return [service.team_out(session, t).model_dump(mode="json") for t in teams]

    rows = run_action(get_settings(), local=local, remote=lambda api: api.teams.list())
    if as_json:
        emit_json({"teams": rows})
        return
    emit_table("teams", [_row(t) for t in rows], ("name", "id", "members"))


def _change(team: str, user: str, add: bool, as_json: bool) -> None:
    def local(session: Session) -> dict[str, Any]:
        team_id = team_repo.get_team_by_name(session=session, name=team).id
        viewer = admin_user(session)
        out = service.change_member(
            session=session, team_id=team_id, user_name=user, viewer=viewer, add=add
        )
        return out.model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        team_id = team_id_by_name(api, team)
        if add:
            return api.teams.add_member(team_id, user)
        return api.teams.remove_member(team_id, user)

    _show(run_action(get_settings(), local=local, remote=remote), as_json)


@app.command("add-member")
def add_member(team: TeamArgument, user: UserArgument, as_json: JsonOption = False) -> None:
    """Add a user to a team of yours."""
    _change(team, user, True, as_json)


@app.command("remove-member")
def remove_member(team: TeamArgument, user: UserArgument, as_json: JsonOption = False) -> None:
    """Take a user out of a team of yours."""
    _change(team, user, False, as_json)
