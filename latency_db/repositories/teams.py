"""Teams and device shares: a user creates a team (and is its first member), members add
other users, and a device's owner shares it with a team of theirs (issue 12)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import NotFound
from latency_db.models import Device, DeviceShare, Team, TeamMember, User
from latency_db.repositories.common import add_or_conflict, check_name, get_or_not_found
from latency_db.repositories.devices import check_owner


def create_team(*, session: Session, name: str, creator: User) -> Team:
    team = Team(name=check_name(name, "name", 64), created_at=db_now(session))
    add_or_conflict(session, team, f"team {team.name!r} already exists")
    session.add(TeamMember(team_id=team.id, user_id=creator.id, created_at=db_now(session)))
    session.flush()
    return team


def is_member(session: Session, team: Team, user: User) -> bool:
    return session.get(TeamMember, (team.id, user.id)) is not None


def get_team(*, session: Session, team_id: str, viewer: User) -> Team:
    """The team, or ``NotFound`` unless ``viewer`` is a member or an admin."""
    team = get_or_not_found(session, Team, team_id, "team")
    if not viewer.is_admin and not is_member(session, team, viewer):
        raise NotFound(f"team {team_id!r} not found")
    return team


def get_team_by_name(*, session: Session, name: str) -> Team:
    team = session.scalars(select(Team).where(Team.name == name)).first()
    if team is None:
        raise NotFound(f"team {name!r} not found")
    return team


def list_teams(*, session: Session, viewer: User) -> list[Team]:
    """The viewer's teams (every team for an admin), by name."""
    stmt = select(Team).order_by(Team.name)
    if not viewer.is_admin:
        stmt = stmt.where(
            Team.id.in_(select(TeamMember.team_id).where(TeamMember.user_id == viewer.id))
        )
    return list(session.scalars(stmt))


def members(*, session: Session, team: Team) -> list[User]:
    stmt = select(User).join(TeamMember, TeamMember.user_id == User.id)
    return list(session.scalars(stmt.where(TeamMember.team_id == team.id).order_by(User.name)))


def add_member(*, session: Session, team: Team, user: User) -> None:
    """Idempotent: a member already is one."""
    if not is_member(session, team, user):
        session.add(TeamMember(team_id=team.id, user_id=user.id, created_at=db_now(session)))
        session.flush()


def remove_member(*, session: Session, team: Team, user: User) -> None:
    row = session.get(TeamMember, (team.id, user.id))
    if row is None:
        raise NotFound(f"{user.name!r} is not a member of team {team.name!r}")
    session.delete(row)
    session.flush()


def share_device(*, session: Session, device: Device, team: Team, by: User) -> None:
    """Share ``device`` with ``team`` (idempotent); ``by`` must own the device (or be an admin)
    and belong to the team."""
    check_owner(device, by)
    if not by.is_admin and not is_member(session, team, by):
        raise NotFound(f"team {team.id!r} not found")
    if session.get(DeviceShare, (device.id, team.id)) is None:
        session.add(DeviceShare(device_id=device.id, team_id=team.id, created_at=db_now(session)))
        session.flush()


def unshare_device(*, session: Session, device: Device, team: Team, by: User) -> None:
    check_owner(device, by)
    row = session.get(DeviceShare, (device.id, team.id))
    if row is None:
        raise NotFound(f"device {device.name!r} is not shared with team {team.name!r}")
    session.delete(row)
    session.flush()


def shared_with(*, session: Session, device: Device) -> list[Team]:
    stmt = select(Team).join(DeviceShare, DeviceShare.team_id == Team.id)
    return list(session.scalars(stmt.where(DeviceShare.device_id == device.id).order_by(Team.name)))
