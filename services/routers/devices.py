"""Devices: create (with a one-time enrollment token), list, drain/disable, their agents."""

from __future__ import annotations

from fastapi import APIRouter, Request

from latency_db.repositories import agents as agent_repo
from latency_db.repositories import devices as device_repo
from latency_db.repositories import enrollment as enrollment_repo
from services.agent_wheel import WHEEL_NAME
from services.deps import CurrentAdmin, CurrentUser, SessionDep
from services.schemas.devices import (
    AgentOut,
    DeviceCreate,
    DeviceCreated,
    DeviceOut,
    DeviceStateIn,
    Enrollment,
)

router = APIRouter(prefix="/devices", tags=["devices"])


def _enrollment(request: Request, session: SessionDep, device_id: str) -> Enrollment:
    device = device_repo.get_device(session=session, device_id=device_id)
    row, token = enrollment_repo.issue_enrollment_token(session=session, device=device)
    server = str(request.base_url).rstrip("/")
    commands = [
        f"python -m pip install {server}/v1/agent/{WHEEL_NAME}",
        f"hwnas-agent run --server {server} --enroll-token {token} --backend ort-cpu",
    ]
    return Enrollment(token=token, expires_at=row.expires_at, commands=commands)


@router.post("", status_code=201, response_model=DeviceCreated)
def create_device(
    body: DeviceCreate, request: Request, session: SessionDep, _: CurrentUser
) -> DeviceCreated:
    """Register a device; the answer holds its one-time enrollment token (shown once)."""
    device = device_repo.create_device(
        session=session, name=body.name, kind=body.kind, attributes=body.attributes
    )
    enrollment = _enrollment(request, session, device.id)
    session.commit()
    return DeviceCreated(device=DeviceOut.model_validate(device), enrollment=enrollment)


@router.get("", response_model=list[DeviceOut])
def list_devices(session: SessionDep, _: CurrentUser) -> list[DeviceOut]:
    return [DeviceOut.model_validate(d) for d in device_repo.list_devices(session=session)]


@router.get("/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, session: SessionDep, _: CurrentUser) -> DeviceOut:
    return DeviceOut.model_validate(device_repo.get_device(session=session, device_id=device_id))


@router.post("/{device_id}/enrollment-tokens", status_code=201, response_model=Enrollment)
def new_enrollment_token(
    device_id: str, request: Request, session: SessionDep, _: CurrentUser
) -> Enrollment:
    """Another one-time token, to start one more agent on the device."""
    enrollment = _enrollment(request, session, device_id)
    session.commit()
    return enrollment


@router.post("/{device_id}/state", response_model=DeviceOut)
def set_device_state(
    device_id: str, body: DeviceStateIn, session: SessionDep, _: CurrentAdmin
) -> DeviceOut:
    """Drain (finish leased work, take no new), disable, or re-activate a device."""
    device = device_repo.get_device(session=session, device_id=device_id)
    device_repo.set_device_state(session=session, device=device, state=body.state)
    session.commit()
    return DeviceOut.model_validate(device)


@router.get("/{device_id}/agents", response_model=list[AgentOut])
def list_device_agents(device_id: str, session: SessionDep, _: CurrentUser) -> list[AgentOut]:
    device = device_repo.get_device(session=session, device_id=device_id)
    return [
        AgentOut.model_validate(a) for a in agent_repo.list_agents(session=session, device=device)
    ]
