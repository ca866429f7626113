"""Target devices: create, read, drain and disable."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import NotFound, ValidationError
from latency_db.models import Device, DeviceKind, DeviceState
from latency_db.repositories.common import (
    add_or_conflict,
    check_json,
    get_or_not_found,
    parse_enum,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def create_device(
    *,
    session: Session,
    name: str,
    kind: DeviceKind | str,
    attributes: dict[str, Any] | None = None,
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
        state=DeviceState.ACTIVE,
        created_at=db_now(session),
    )
    add_or_conflict(session, device, f"device {name!r} already exists")
    return device


def list_devices(*, session: Session) -> list[Device]:
    return list(session.scalars(select(Device).order_by(Device.name)))


def get_device(*, session: Session, device_id: str) -> Device:
    return get_or_not_found(session, Device, device_id, "device")


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
