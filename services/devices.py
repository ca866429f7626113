"""Registering a device and the one-time token its agents enroll with.

One implementation behind ``/v1/devices`` and the CLI's embedded-database path; the caller
commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from latency_db.models import Device, User
from latency_db.repositories import devices as device_repo
from latency_db.repositories import enrollment as enrollment_repo
from services.agent_wheel import WHEEL_NAME, agent_wheel_sha256
from services.schemas.devices import DeviceCreated, DeviceOut, Enrollment


def issue_enrollment(*, session: Session, device: Device, server_url: str) -> Enrollment:
    """A one-time token and the commands that install and start an agent against
    ``server_url`` (the API's address as the device reaches it)."""
    row, token = enrollment_repo.issue_enrollment_token(session=session, device=device)
    server = server_url.rstrip("/")
    commands = [
        f"python -m pip install {server}/v1/agent/{WHEEL_NAME}#sha256={agent_wheel_sha256()}",
        f"hwnas-agent run --server {server} --enroll-token {token} --backend ort-cpu",
    ]
    return Enrollment(token=token, expires_at=row.expires_at, commands=commands)


def register_device(
    *,
    session: Session,
    name: str,
    kind: str,
    attributes: dict[str, Any],
    server_url: str,
    owner: User | None = None,
) -> DeviceCreated:
    """A new device of ``owner`` and its first enrollment token (shown once)."""
    device = device_repo.create_device(
        session=session, name=name, kind=kind, attributes=attributes, owner=owner
    )
    enrollment = issue_enrollment(session=session, device=device, server_url=server_url)
    return DeviceCreated(device=DeviceOut.model_validate(device), enrollment=enrollment)
