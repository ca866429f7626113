"""Teams (any user creates one and is its first member; members add others) and the devices
their owners share with a team: members see and use a shared device, only its owner manages
it (issue 12)."""

from __future__ import annotations

from fastapi import APIRouter

from latency_db.repositories import teams as team_repo
from services import teams as service
from services.deps import CurrentUser, SessionDep
from services.schemas.teams import DeviceSharesOut, MemberIn, ShareIn, TeamCreate, TeamOut

router = APIRouter(tags=["teams"])


@router.post("/teams", status_code=201, response_model=TeamOut)
def create_team(body: TeamCreate, session: SessionDep, user: CurrentUser) -> TeamOut:
    """A new team with the caller as its first member."""
    team = team_repo.create_team(session=session, name=body.name, creator=user)
    out = service.team_out(session, team)
    session.commit()
    return out


@router.get("/teams", response_model=list[TeamOut])
def list_teams(session: SessionDep, user: CurrentUser) -> list[TeamOut]:
    """Your teams (an admin's: all) with their members."""
    teams = team_repo.list_teams(session=session, viewer=user)
    return [service.team_out(session, t) for t in teams]


@router.post("/teams/{team_id}/members", response_model=TeamOut)
def add_member(team_id: str, body: MemberIn, session: SessionDep, user: CurrentUser) -> TeamOut:
    """Add a user (by name) to a team of yours (idempotent)."""
    out = service.change_member(
        session=session, team_id=team_id, user_name=body.user, viewer=user, add=True
    )
    session.commit()
    return out


@router.delete("/teams/{team_id}/members/{user_name}", response_model=TeamOut)
def remove_member(team_id: str, user_name: str, session: SessionDep, user: CurrentUser) -> TeamOut:
    """Take a user out of a team of yours."""
    out = service.change_member(
        session=session, team_id=team_id, user_name=user_name, viewer=user, add=False
    )
    session.commit()
    return out


@router.post("/devices/{device_id}/shares", response_model=DeviceSharesOut)
def share_device(
    device_id: str, body: ShareIn, session: SessionDep, user: CurrentUser
) -> DeviceSharesOut:
    """Share your device with a team of yours: its members see it and submit work to it."""
    out = service.change_share(
        session=session, device_id=device_id, team_id=body.team_id, viewer=user, share=True
    )
    session.commit()
    return out


@router.delete("/devices/{device_id}/shares/{team_id}", response_model=DeviceSharesOut)
def unshare_device(
    device_id: str, team_id: str, session: SessionDep, user: CurrentUser
) -> DeviceSharesOut:
    """Stop sharing your device with a team."""
    out = service.change_share(
        session=session, device_id=device_id, team_id=team_id, viewer=user, share=False
    )
    session.commit()
    return out
