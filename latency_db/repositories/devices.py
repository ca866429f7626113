"""Target devices: create, read, drain and disable; a device is seen by its owner, the admins
and the members of the teams it is shared with, and is "not found" for everyone else (its
existence is not told)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, object_session

from latency_db.db import db_now
from latency_db.errors import NotFound, PermissionDenied, ValidationError
from latency_db.models import Device, DeviceKind, DeviceShare, DeviceState, TeamMember, User
from latency_db.repositories.common import (
    add_or_conflict,
    check_json,
    parse_enum,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def create_device(
    *,
    session: Session,
    name: str,
    kind: DeviceKind | str,
    attributes: dict[str, Any] | None = None,
    owner: User | None = None,
) -> Device:
    if not _NAME.match(name):
        raise ValidationError(
            f"device name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    attributes = dict(attributes or {})
    check_json(attributes, "attributes")
    device = Device(
        name=name,
        kind=parse_enum(DeviceKind, kind, "kind"),
        attributes=attributes,
        owner_id=None if owner is None else owner.id,
        state=DeviceState.ACTIVE,
        created_at=db_now(session),
    )
    add_or_conflict(session, device, f"device {name!r} already exists")
    return device


def _shared_device_ids(viewer: User) -> Select[str]:
    """Devices shared with a team ``viewer`` belongs to."""
    return (
        select(DeviceShare.device_id)
        .join(TeamMember, TeamMember.team_id == DeviceShare.team_id)
        .where(TeamMember.user_id == viewer.id)
    )


def can_see(viewer: User | None, device: Device) -> bool:
    """An admin sees every device, a user the devices they own and those shared with a team
    of theirs; ``None`` is the server itself (workers, the CLI's embedded database)."""
    if viewer is None or viewer.is_admin or device.owner_id == viewer.id:
        return True
    session = object_session(device)
    shared = _shared_device_ids(viewer).where(DeviceShare.device_id == device.id)
    return session is not None and session.scalar(shared) is not None


def check_owner(device: Device, user: User | None) -> None:
    """Only a device's owner (or an admin, or the server itself) manages it: enrollment
    tokens, state, agents, imports, shares. Team members who see it are told so (403)."""
    if user is not None and not user.is_admin and device.owner_id != user.id:
        raise PermissionDenied(f"only the owner of device {device.name!r} may do this")


def visible_device_ids(viewer: User | None) -> Select[str] | None:
    """The ids of the devices ``viewer`` sees, as a subquery for ``device_id.in_(...)``;
    None when that is every device."""
    if viewer is None or viewer.is_admin:
        return None
    owned = select(Device.id).where(Device.owner_id == viewer.id)
    return owned.union(_shared_device_ids(viewer))  # type: ignore[return-value]


def list_devices(*, session: Session, viewer: User | None = None) -> list[Device]:
    stmt = select(Device).order_by(Device.name)
    if (visible := visible_device_ids(viewer)) is not None:
        stmt = stmt.where(Device.id.in_(visible))
    return list(session.scalars(stmt))


def get_device(*, session: Session, device_id: str, viewer: User | None = None) -> Device:
    """The device, or ``NotFound`` when it does not exist or ``viewer`` may not see it."""
    device = session.get(Device, device_id)
    if device is None or not can_see(viewer, device):
        raise NotFound(f"device {device_id!r} not found")
    return device


def get_device_by_name(*, session: Session, name: str) -> Device:
    device = session.scalars(select(Device).where(Device.name == name)).first()
    if device is None:
        raise NotFound(f"device {name!r} not found")
    return device


def get_or_create_device(
    *, session: Session, name: str, kind: DeviceKind | str
) -> tuple[Device, bool]:
    """The device called ``name``, created with ``kind`` when missing; ``True`` if created."""
    found = session.scalars(select(Device).where(Device.name == name)).first()
    if found is not None:
        return found, False
    return create_device(session=session, name=name, kind=kind), True


def set_device_state(*, session: Session, device: Device, state: DeviceState | str) -> Device:
    """Drain (no new claims; running leases finish), disable, or reactivate a device."""
    device.state = parse_enum(DeviceState, state, "state")
    session.flush()
    return device
