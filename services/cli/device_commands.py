"""``hwnas device``: register devices, list them with their agents, drain or re-activate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from hwnas import Client
from latency_db.models import DeviceKind, DeviceState
from latency_db.repositories import agents as agent_repo
from latency_db.repositories import devices as device_repo
from latency_db.repositories import teams as team_repo
from latency_db.settings import get_settings
from services.bootstrap import admin_user
from services.cli.dispatch import device_id_by_name, fail, run_action
from services.cli.output import emit_json, emit_mapping, emit_table
from services.cli.team_commands import team_id_by_name
from services.device_health import device_health
from services.devices import register_device
from services.plots.speed_index import speed_index_png
from services.schemas.devices import AgentOut, DeviceHealthOut, DeviceOut
from services.teams import change_share

app = typer.Typer(
    help="Devices: register, list with their agents, drain, activate, health, share with a team."
)

# Where ``hwnas server`` listens by default: the address an embedded token's commands name.
LOCAL_SERVER_URL = "http://127.0.0.1:8000"

NameArgument = Annotated[str, typer.Argument(help="device name")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


@app.command("add")
def add(
    name: NameArgument,
    kind: Annotated[DeviceKind, typer.Option(help="what the device is")],
    as_json: JsonOption = False,
) -> None:
    """Register a device: its id and a one-time token its first agent enrolls with (on the
    embedded database, the token works once 'hwnas server' serves that database)."""

    def local(session: Session) -> dict[str, Any]:
        created = register_device(
            session=session,
            name=name,
            kind=kind.value,
            attributes={},
            server_url=LOCAL_SERVER_URL,
        )
        return created.model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        return dict(api.post("/devices", {"name": name, "kind": kind.value, "attributes": {}}))

    created = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json(created)
        return
    device, enrollment = created["device"], created["enrollment"]
    emit_mapping(
        f"device {device['name']}",
        {
            "id": device["id"],
            "kind": device["kind"],
            "state": device["state"],
            "enrollment token expires": enrollment["expires_at"],
        },
    )
    typer.echo(f"enrollment token (shown once): {enrollment['token']}")
    typer.echo("start an agent on the device:")
    for command in enrollment["commands"]:
        typer.echo(f"  {command}")


@app.command("list")
def list_devices(as_json: JsonOption = False) -> None:
    """Every device with its state and how many of its agents are online."""

    def local(session: Session) -> list[dict[str, Any]]:
        return [
            {
                **DeviceOut.model_validate(device).model_dump(mode="json"),
                "agents": [
                    AgentOut.model_validate(agent).model_dump(mode="json")
                    for agent in agent_repo.list_agents(session=session, device=device)
                ],
            }
            for device in device_repo.list_devices(session=session)
        ]

    def remote(api: Client) -> list[dict[str, Any]]:
        return [
            {**device, "agents": api.get(f"/devices/{device['id']}/agents")}
            for device in api.get("/devices")
        ]

    devices = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json({"devices": devices})
        return
    rows = [
        {
            **device,
            "agents online": f"{sum(a['state'] == 'online' for a in device['agents'])} "
            f"of {len(device['agents'])}",
        }
        for device in devices
    ]
    emit_table("devices", rows, ["name", "kind", "state", "agents online", "id"])


@app.command("drain")
def drain(name: NameArgument, as_json: JsonOption = False) -> None:
    """Take no new jobs; leased ones finish ('activate' takes work again)."""
    _set_state(name, DeviceState.DRAINING, as_json)


@app.command("activate")
def activate(name: NameArgument, as_json: JsonOption = False) -> None:
    """Take jobs again after 'drain' or 'disable'."""
    _set_state(name, DeviceState.ACTIVE, as_json)


@app.command("disable")
def disable(name: NameArgument, as_json: JsonOption = False) -> None:
    """Take no jobs, and no agent of the device may enroll."""
    _set_state(name, DeviceState.DISABLED, as_json)


def _set_state(name: str, state: DeviceState, as_json: bool) -> None:
    def local(session: Session) -> dict[str, Any]:
        device = device_repo.get_device_by_name(session=session, name=name)
        device_repo.set_device_state(session=session, device=device, state=state)
        return DeviceOut.model_validate(device).model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        path = f"/devices/{device_id_by_name(api, name)}/state"
        return dict(api.post(path, {"state": state.value}))

    device = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json(device)
    else:
        typer.echo(f"device {device['name']}: {device['state']}")


@app.command("health")
def health(
    name: NameArgument,
    as_json: JsonOption = False,
    plot: Annotated[Path | None, typer.Option(help="write the speed-index PNG here")] = None,
) -> None:
    """The device's speed index over time: each sentinel measurement's median, the index
    (reference median / this one; below 1 when the device runs slower) and its stability."""

    def local(session: Session) -> dict[str, Any]:
        device = device_repo.get_device_by_name(session=session, name=name)
        return device_health(session=session, device=device).model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        return dict(api.get(f"/devices/{device_id_by_name(api, name)}/health"))

    report = DeviceHealthOut.model_validate(run_action(get_settings(), local=local, remote=remote))
    if plot is not None:
        try:
            plot.write_bytes(speed_index_png(report.points, f"{name}: speed index"))
        except OSError as err:
            fail(f"cannot write {plot}: {err}")
    if as_json:
        emit_json({**report.model_dump(mode="json"), "plot": str(plot) if plot else None})
        return
    rows = [
        {
            "time": point.time.strftime("%Y-%m-%d %H:%M:%S"),
            "config": point.runtime_config_id,
            "sentinel ms": point.sentinel_ms,
            "speed index": point.speed_index,
            "cv": point.cv,
            "stable": "no" if point.unstable else "yes",
        }
        for point in report.points
    ]
    emit_table(f"{name}: speed index", rows, list(rows[0]) if rows else ["time"])
    if not rows:
        typer.echo("no sentinel measured yet: it runs before the first job an agent takes")
    for config_id, index in report.current.items():
        typer.echo(f"current speed index under config {config_id}: {index:.3f}")
    if plot is not None:
        typer.echo(f"plot: {plot}")


def _share(name: str, team: str, share: bool, as_json: bool) -> None:
    def local(session: Session) -> dict[str, Any]:
        device = device_repo.get_device_by_name(session=session, name=name)
        team_id = team_repo.get_team_by_name(session=session, name=team).id
        out = change_share(
            session=session,
            device_id=device.id,
            team_id=team_id,
            viewer=admin_user(session),
            share=share,
        )
        return out.model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        device_id, team_id = device_id_by_name(api, name), team_id_by_name(api, team)
        if share:
            return api.teams.share(device_id, team_id)
        return api.teams.unshare(device_id, team_id)

    answer = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json(answer)
        return
    typer.echo(f"device {name} is shared with: {', '.join(answer['teams']) or 'no team'}")


TeamOption = Annotated[str, typer.Option("--team", help="a team of yours (hwnas team list)")]


@app.command("share")
def share(name: NameArgument, team: TeamOption, as_json: JsonOption = False) -> None:
    """Share your device with a team: its members see it and submit work to it; only you
    manage it (enrollment tokens, state, agents)."""
    _share(name, team, True, as_json)


@app.command("unshare")
def unshare(name: NameArgument, team: TeamOption, as_json: JsonOption = False) -> None:
    """Stop sharing your device with a team."""
    _share(name, team, False, as_json)
