"""Artifact metadata, keyed by the sha256 of the bytes (which live under artifact_dir)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import Conflict, ValidationError
from latency_db.models import Artifact, ArtifactKind
from latency_db.repositories.common import (
    check_name,
    check_positive_int,
    check_shape,
    get_or_not_found,
    insert_or_existing,
    parse_enum,
)

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
