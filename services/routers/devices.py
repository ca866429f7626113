"""Devices: create (with a one-time enrollment token), list, drain/disable, their agents."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from latency_db.repositories import agents as agent_repo
from latency_db.repositories import devices as device_repo
from services.deps import CurrentUser, SessionDep
from services.device_health import device_health
from services.devices import issue_enrollment, register_device
from services.schemas.devices import (
    AgentOut,
    DeviceCreate,
    DeviceCreated,
    DeviceHealthOut,
    DeviceOut,
    DeviceStateIn,
    Enrollment,
)
from services.schemas.links import links_from

router = APIRouter(prefix="/devices", tags=["devices"])


@router.post(
    "",
    status_code=201,
    response_model=DeviceCreated,
    responses=links_from(
        201,
        "device_id",
        "/device/id",
        "get_device",
        "new_enrollment_token",
        "set_device_state",
        "list_device_agents",
        "get_device_health",
    ),
)
def create_device(
    body: DeviceCreate, request: Request, session: SessionDep, user: CurrentUser
) -> DeviceCreated:
    """Register a device of the caller's; the answer holds its one-time enrollment token
    (shown once)."""
    created = register_device(
        session=session,
        name=body.name,
        kind=body.kind,
        attributes=body.attributes,
        server_url=str(request.base_url),
        owner=user,
    )
    session.commit()
    return created


@router.get("", response_model=list[DeviceOut])
def list_devices(session: SessionDep, user: CurrentUser) -> list[DeviceOut]:
    """The caller's devices (an admin's: all), with their state."""
    devices = device_repo.list_devices(session=session, viewer=user)
    return [DeviceOut.model_validate(d) for d in devices]


@router.get("/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, session: SessionDep, user: CurrentUser) -> DeviceOut:
    """One device by id (404 unless the caller owns it, is an admin, or belongs to a team it
    is shared with)."""
    device = device_repo.get_device(session=session, device_id=device_id, viewer=user)
    return DeviceOut.model_validate(device)


@router.post("/{device_id}/enrollment-tokens", status_code=201, response_model=Enrollment)
def new_enrollment_token(
    device_id: str, request: Request, session: SessionDep, user: CurrentUser
) -> Enrollment:
    """Another one-time token, to start one more agent on the device (its owner's or an
    admin's to issue)."""
    device = device_repo.get_device(session=session, device_id=device_id, viewer=user)
    device_repo.check_owner(device, user)
    enrollment = issue_enrollment(session=session, device=device, server_url=str(request.base_url))
    session.commit()
    return enrollment


@router.post("/{device_id}/state", response_model=DeviceOut)
def set_device_state(
    device_id: str, body: DeviceStateIn, session: SessionDep, user: CurrentUser
) -> DeviceOut:
    """Drain (finish leased work, take no new), disable (its agents no longer
    authenticate), or re-activate a device: its owner's or an admin's to do."""
    device = device_repo.get_device(session=session, device_id=device_id, viewer=user)
    device_repo.check_owner(device, user)
    device_repo.set_device_state(session=session, device=device, state=body.state)
    session.commit()
    return DeviceOut.model_validate(device)


@router.get("/{device_id}/agents", response_model=list[AgentOut])
def list_device_agents(device_id: str, session: SessionDep, user: CurrentUser) -> list[AgentOut]:
    """The agents enrolled on a device, with their state and last heartbeat."""
    device = device_repo.get_device(session=session, device_id=device_id, viewer=user)
    return [
        AgentOut.model_validate(a) for a in agent_repo.list_agents(session=session, device=device)
    ]


@router.get("/{device_id}/health", response_model=DeviceHealthOut)
def get_device_health(
    device_id: str,
    session: SessionDep,
    user: CurrentUser,
    runtime_config_id: str | None = Query(default=None, max_length=26),
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> DeviceHealthOut:
    """The device's speed-index series from its sentinel measurements, oldest first."""
    device = device_repo.get_device(session=session, device_id=device_id, viewer=user)
    return device_health(
        session=session, device=device, runtime_config_id=runtime_config_id, limit=limit
    )
