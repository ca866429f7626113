"""A device owner's (or an admin's) hold on one agent: drain or disable it, or rotate its
credential when it may have leaked."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from latency_db.errors import NotFound
from latency_db.models import Agent, User
from latency_db.repositories import agents as agent_repo
from latency_db.repositories import devices as device_repo
from services.deps import CurrentUser, SessionDep
from services.schemas.devices import AgentCredentialOut, AgentOut, AgentStateIn

router = APIRouter(prefix="/agents", tags=["agents"])


def _visible_agent(session: Session, agent_id: str, user: User) -> Agent:
    agent = agent_repo.get_agent(session=session, agent_id=agent_id)
    if not device_repo.can_see(user, agent.device):
        raise NotFound(f"agent {agent_id!r} not found")
    device_repo.check_owner(agent.device, user)
    return agent


@router.post("/{agent_id}/state", response_model=AgentOut)
def set_agent_state(
    agent_id: str, body: AgentStateIn, session: SessionDep, user: CurrentUser
) -> AgentOut:
    """Drain (finish its leases, take no new), disable (its credential stops working at
    once), or bring back (``online``) one agent."""
    agent = _visible_agent(session, agent_id, user)
    agent_repo.set_agent_state(session=session, agent=agent, state=body.state)
    session.commit()
    return AgentOut.model_validate(agent)


@router.post("/{agent_id}/credential", status_code=201, response_model=AgentCredentialOut)
def rotate_credential(agent_id: str, session: SessionDep, user: CurrentUser) -> AgentCredentialOut:
    """A new credential for the agent (shown once); the old one no longer authenticates."""
    agent = _visible_agent(session, agent_id, user)
    credential = agent_repo.rotate_credential(session=session, agent=agent)
    session.commit()
    return AgentCredentialOut(agent_id=agent.id, credential=credential)
