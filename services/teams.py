"""Teams and device shares as the API and the local CLI answer them (issue 12)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from latency_db.models import Device, Team, User
from latency_db.repositories import devices as device_repo
from latency_db.repositories import teams as team_repo
from latency_db.repositories import users as user_repo
from services.schemas.teams import DeviceSharesOut, TeamOut


def team_out(session: Session, team: Team) -> TeamOut:
    names = [u.name for u in team_repo.members(session=session, team=team)]
    return TeamOut(id=team.id, name=team.name, members=names, created_at=team.created_at)


def change_member(
    *, session: Session, team_id: str, user_name: str, viewer: User, add: bool
) -> TeamOut:
    """Add or remove a member: a member's (or an admin's) to do."""
    team = team_repo.get_team(session=session, team_id=team_id, viewer=viewer)
    user = user_repo.get_user_by_name(session=session, name=user_name)
    if add:
        team_repo.add_member(session=session, team=team, user=user)
    else:
        team_repo.remove_member(session=session, team=team, user=user)
    return team_out(session, team)


def change_share(
    *, session: Session, device_id: str, team_id: str, viewer: User, share: bool
) -> DeviceSharesOut:
    """Share a device with a team, or stop: its owner's (or an admin's) to do."""
    device = device_repo.get_device(session=session, device_id=device_id, viewer=viewer)
    team = team_repo.get_team(session=session, team_id=team_id, viewer=viewer)
    if share:
        team_repo.share_device(session=session, device=device, team=team, by=viewer)
    else:
        team_repo.unshare_device(session=session, device=device, team=team, by=viewer)
    return shares_out(session, device)


def shares_out(session: Session, device: Device) -> DeviceSharesOut:
    teams = team_repo.shared_with(session=session, device=device)
    return DeviceSharesOut(device_id=device.id, teams=[t.name for t in teams])
