"""Artifact metadata, keyed by the sha256 of the bytes (which live under artifact_dir)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import Conflict, NotFound, ValidationError
from latency_db.models import (
    Agent,
    Artifact,
    ArtifactKind,
    ArtifactUpload,
    JobLease,
    LeaseState,
    ProfilingJob,
    User,
)
from latency_db.repositories.common import (
    check_name,
    check_positive_int,
    check_shape,
    get_or_not_found,
    insert_or_existing,
    parse_enum,
)
from latency_db.repositories.devices import visible_device_ids

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise ValidationError(f"sha256 must be 64 lowercase hex characters, not {sha256!r}")
    return sha256


def register_artifact(
    *,
    session: Session,
    sha256: str,
    kind: ArtifactKind | str,
    size_bytes: int,
    subject: str,
    input_shape: Sequence[int],
    space_ref: str | None = None,
    opset: int | None = None,
) -> Artifact:
    """Record an artifact's metadata; registering the same bytes again returns the first row."""
    check_sha256(sha256)
    kind = parse_enum(ArtifactKind, kind, "kind")
    check_positive_int(size_bytes, "size_bytes")
    shape = check_shape(input_shape)
    subject = check_name(subject, "subject", 100_000)
    if opset is not None:
        check_positive_int(opset, "opset")
    existing = session.get(Artifact, sha256)
    if existing is not None:
        if existing.size_bytes != size_bytes or existing.kind is not kind:
            raise Conflict(f"artifact {sha256} is already registered with other size or kind")
        return existing
    artifact = Artifact(
        sha256=sha256,
        kind=kind,
        size_bytes=size_bytes,
        subject=subject,
        space_ref=space_ref,
        input_shape=shape,
        opset=opset,
        created_at=db_now(session),
    )
    return insert_or_existing(session, artifact, lambda: session.get(Artifact, sha256))


def get_artifact(*, session: Session, sha256: str) -> Artifact:
    return get_or_not_found(session, Artifact, check_sha256(sha256), "artifact")


def record_upload(*, session: Session, artifact: Artifact, user: User) -> None:
    """``user`` uploaded the artifact's bytes: it is theirs to read (idempotent)."""
    key = {"sha256": artifact.sha256, "user_id": user.id}
    if session.get(ArtifactUpload, key) is None:
        insert_or_existing(
            session,
            ArtifactUpload(**key, created_at=db_now(session)),
            lambda: session.get(ArtifactUpload, key),
        )


def get_artifact_for_user(*, session: Session, sha256: str, user: User) -> Artifact:
    """An artifact ``user`` may read: every one for an admin, else one they uploaded or one
    a job of a device they see profiles; ``NotFound`` otherwise."""
    artifact = get_artifact(session=session, sha256=sha256)
    if user.is_admin or session.get(ArtifactUpload, (artifact.sha256, user.id)) is not None:
        return artifact
    visible = visible_device_ids(user)
    profiled = select(ProfilingJob.id).where(ProfilingJob.artifact_sha256 == artifact.sha256)
    if visible is not None:
        profiled = profiled.where(ProfilingJob.device_id.in_(visible))
    if session.scalars(profiled.limit(1)).first() is None:
        raise NotFound(f"artifact {sha256!r} not found")
    return artifact


def get_artifact_for_agent(*, session: Session, sha256: str, agent: Agent) -> Artifact:
    """An artifact ``agent`` may read: that of a job it holds a live lease of."""
    artifact = get_artifact(session=session, sha256=sha256)
    leased = (
        select(JobLease.id)
        .join(ProfilingJob, ProfilingJob.id == JobLease.job_id)
        .where(
            JobLease.agent_id == agent.id,
            JobLease.state == LeaseState.LIVE,
            ProfilingJob.artifact_sha256 == artifact.sha256,
        )
    )
    if session.scalars(leased.limit(1)).first() is None:
        raise NotFound(f"artifact {sha256!r} not found")
    return artifact
