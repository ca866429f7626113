"""``hwnas agent``: drain, disable or re-enable one agent, or rotate its credential."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from hwnas import Client
from latency_db.models import AgentState
from latency_db.repositories import agents as agent_repo
from latency_db.settings import get_settings
from services.cli.dispatch import run_action
from services.cli.output import emit_json
from services.schemas.devices import AgentCredentialOut, AgentOut

app = typer.Typer(help="One agent: drain, disable, enable, rotate its credential.")

AgentArgument = Annotated[str, typer.Argument(help="agent id ('hwnas device list --json')")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


@app.command("drain")
def drain(agent_id: AgentArgument, as_json: JsonOption = False) -> None:
    """Finish its leases, take no new jobs ('enable' takes work again)."""
    _set_state(agent_id, AgentState.DRAINING, as_json)


@app.command("disable")
def disable(agent_id: AgentArgument, as_json: JsonOption = False) -> None:
    """Its credential stops working at once (its leases expire and go to other agents)."""
    _set_state(agent_id, AgentState.DISABLED, as_json)


@app.command("enable")
def enable(agent_id: AgentArgument, as_json: JsonOption = False) -> None:
    """Take jobs again after 'drain' or 'disable'."""
    _set_state(agent_id, AgentState.ONLINE, as_json)


@app.command("rotate")
def rotate(agent_id: AgentArgument, as_json: JsonOption = False) -> None:
    """A new credential for the agent (shown once); the old one stops working at once."""

    def local(session: Session) -> dict[str, Any]:
        agent = agent_repo.get_agent(session=session, agent_id=agent_id)
        credential = agent_repo.rotate_credential(session=session, agent=agent)
        return AgentCredentialOut(agent_id=agent.id, credential=credential).model_dump()

    def remote(api: Client) -> dict[str, Any]:
        return dict(api.post(f"/agents/{agent_id}/credential", {}))

    rotated = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json(rotated)
        return
    typer.echo(
        f"new credential of agent {rotated['agent_id']} (shown once): {rotated['credential']}"
    )
    typer.echo("put it in the agent's <data-dir>/agent.json ('credential') and restart the agent")


def _set_state(agent_id: str, state: AgentState, as_json: bool) -> None:
    def local(session: Session) -> dict[str, Any]:
        agent = agent_repo.get_agent(session=session, agent_id=agent_id)
        agent_repo.set_agent_state(session=session, agent=agent, state=state)
        return AgentOut.model_validate(agent).model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        return dict(api.post(f"/agents/{agent_id}/state", {"state": state.value}))

    agent = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json(agent)
    else:
        typer.echo(f"agent {agent['id']} ({agent['name']}): {agent['state']}")
