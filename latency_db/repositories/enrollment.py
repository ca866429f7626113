"""One-time enrollment tokens, exchanged by an agent for its own credential."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import Unauthenticated
from latency_db.models import Agent, AgentState, Device, DeviceState, EnrollmentToken
from latency_db.repositories.common import check_json, check_name, check_positive_int
from latency_db.security import (
    AGENT_CREDENTIAL,
    ENROLLMENT_TOKEN,
    generate_token,
    hash_token,
    token_prefix,
)

DEFAULT_TTL_SECONDS = 24 * 3600


def issue_enrollment_token(
    *, session: Session, device: Device, ttl_seconds: int = DEFAULT_TTL_SECONDS
) -> tuple[EnrollmentToken, str]:
    """A token one agent of ``device`` can enroll with before it expires; plaintext once."""
    check_positive_int(ttl_seconds, "ttl_seconds")
    plaintext = generate_token(ENROLLMENT_TOKEN)
    now = db_now(session)
    token = EnrollmentToken(
        device_id=device.id,
        token_hash=hash_token(plaintext),
        prefix=token_prefix(plaintext),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(token)
    session.flush()
    return token, plaintext


def enroll_agent(
    *,
    session: Session,
    token: str,
    name: str,
    backend: str,
    environment: dict[str, Any] | None = None,
) -> tuple[Agent, str]:
    """Spend ``token`` and create an agent: the row and its credential (plaintext once).

    An unknown, used or expired token, or a disabled device, is ``Unauthenticated`` (the
    message does not say which, so tokens cannot be probed).
    """
    name = check_name(name, "name", 128)
    backend = check_name(backend, "backend", 32)
    environment = dict(environment or {})
    check_json(environment, "environment")
    now = db_now(session)
    row = session.scalars(
        select(EnrollmentToken).where(EnrollmentToken.token_hash == hash_token(token))
    ).first()
    refused = Unauthenticated("enrollment token is unknown, used or expired", code="bad_token")
    if row is None or row.expires_at <= now or row.device.state is DeviceState.DISABLED:
        raise refused
    spent = session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.id == row.id, EnrollmentToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise refused
    session.refresh(row)
    credential = generate_token(AGENT_CREDENTIAL)
    agent = Agent(
        device_id=row.device_id,
        name=name,
        credential_hash=hash_token(credential),
        backend=backend,
        environment=environment,
        state=AgentState.ONLINE,
        last_heartbeat_at=now,
        enrolled_at=now,
    )
    session.add(agent)
    session.flush()
    return agent, credential
