"""Measurements (immutable, statistics and verdicts settled here) and lookup tables built
from them: clean measurements only unless the caller includes other verdicts (issue 16)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from latency_db.db import db_now
from latency_db.errors import NotFound, ValidationError
from latency_db.models import (
    Agent,
    Device,
    Measurement,
    MeasurementSource,
    ProfilingJob,
    RuntimeConfig,
    SubjectKind,
    User,
)
from latency_db.repositories.common import (
    check_json,
    check_name,
    check_positive_int,
    check_shape,
    get_or_not_found,
    parse_enum,
)
from latency_db.repositories.devices import can_see, visible_device_ids
from latency_db.timing_stats import compute_stats
from latency_db.verdicts import (
    Verdict,
    VerdictDetail,
    check_evidence,
    settle_verdict,
    sorted_verdicts,
)

CLEAN_ONLY = frozenset({Verdict.CLEAN})
EVERY_VERDICT = frozenset(Verdict)

_IN_CHUNK = 500  # bound parameters per IN (...) query: old SQLite builds allow 999


def add_measurement(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    subject_kind: SubjectKind | str,
    subject: str,
    batch_size: int,
    input_shape: Sequence[int],
    times_ms: Sequence[float],
    environment: dict[str, Any],
    source: MeasurementSource | str,
    space_ref: str | None = None,
    job: ProfilingJob | None = None,
    agent: Agent | None = None,
    layer_profile: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    accepted: bool = True,
    speed_index: float | None = None,
    evidence: Mapping[str, Any] | None = None,
    verdict: VerdictDetail | None = None,
) -> Measurement:
    """Validate everything, derive the statistics from the raw times, settle the verdict
    (``latency_db.verdicts.settle_verdict``: ``verdict`` is the agent's claim, None for an
    agent without one), then write one row."""
    stats = compute_stats(times_ms)
    checked_evidence = check_evidence({} if evidence is None else evidence)
    settled = settle_verdict(verdict, stats)
    kind = parse_enum(SubjectKind, subject_kind, "subject_kind")
    check_positive_int(batch_size, "batch_size")
    shape = check_shape(input_shape)
    check_json(environment, "environment")
    if not isinstance(environment, dict):
        raise ValidationError("environment must be a JSON object")
    if layer_profile is not None:
        check_json(layer_profile, "layer_profile")
    if idempotency_key is not None:
        idempotency_key = check_name(idempotency_key, "idempotency_key", 128)
    measurement = Measurement(
        device_id=device.id,
        runtime_config_id=runtime_config.id,
        job_id=None if job is None else job.id,
        agent_id=None if agent is None else agent.id,
        subject_kind=kind,
        subject=check_name(subject, "subject", 100_000),
        space_ref=space_ref,
        batch_size=batch_size,
        input_shape=shape,
        times_ms=[float(t) for t in times_ms],
        min_ms=stats.min_ms,
        median_ms=stats.median_ms,
        mean_ms=stats.mean_ms,
        p90_ms=stats.p90_ms,
        p99_ms=stats.p99_ms,
        std_ms=stats.std_ms,
        cv=stats.cv,
        unstable=stats.unstable,
        median_ci_low_ms=None if stats.median_ci_ms is None else stats.median_ci_ms[0],
        median_ci_high_ms=None if stats.median_ci_ms is None else stats.median_ci_ms[1],
        verdict=settled.verdict,
        verdict_detail=settled.to_json(),
        evidence=checked_evidence,
        environment=environment,
        layer_profile=layer_profile,
        source=parse_enum(MeasurementSource, source, "source"),
        idempotency_key=idempotency_key,
        accepted=accepted,
        speed_index=speed_index,
        created_at=db_now(session),
    )
    session.add(measurement)
    session.flush()
    return measurement


def get_measurement(
    *, session: Session, measurement_id: str, viewer: User | None = None
) -> Measurement:
    """The measurement, or ``NotFound`` also when ``viewer`` may not see its device."""
    row = get_or_not_found(session, Measurement, measurement_id, "measurement")
    if not can_see(viewer, get_or_not_found(session, Device, row.device_id, "device")):
        raise NotFound(f"measurement {measurement_id!r} not found")
    return row


def get_measurement_by_idempotency_key(*, session: Session, key: str) -> Measurement | None:
    return session.scalars(select(Measurement).where(Measurement.idempotency_key == key)).first()


def existing_idempotency_keys(*, session: Session, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` that a stored measurement already carries."""
    found: set[str] = set()
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = list(keys[start : start + _IN_CHUNK])
        stmt = select(Measurement.idempotency_key).where(Measurement.idempotency_key.in_(chunk))
        found.update(k for k in session.scalars(stmt) if k is not None)
    return found


def list_measurements(
    *,
    session: Session,
    device: Device | None = None,
    runtime_config: RuntimeConfig | None = None,
    subject_kind: SubjectKind | str | None = None,
    subject: str | None = None,
    verdict: Verdict | str | None = None,
    limit: int = 100,
    offset: int = 0,
    viewer: User | None = None,
) -> list[Measurement]:
    """Newest first, optionally filtered; only of devices ``viewer`` sees."""
    stmt = select(Measurement).order_by(Measurement.created_at.desc(), Measurement.id.desc())
    if (visible := visible_device_ids(viewer)) is not None:
        stmt = stmt.where(Measurement.device_id.in_(visible))
    if device is not None:
        stmt = stmt.where(Measurement.device_id == device.id)
    if runtime_config is not None:
        stmt = stmt.where(Measurement.runtime_config_id == runtime_config.id)
    if subject_kind is not None:
        stmt = stmt.where(
            Measurement.subject_kind == parse_enum(SubjectKind, subject_kind, "subject_kind")
        )
    if subject is not None:
        stmt = stmt.where(Measurement.subject == subject)
    if verdict is not None:
        stmt = stmt.where(Measurement.verdict == parse_enum(Verdict, verdict, "verdict"))
    return list(session.scalars(stmt.limit(limit).offset(offset)))


# Columns a table or a training set never reads: raw times, evidence and per-layer profiles.
_BULKY_COLUMNS = (
    Measurement.times_ms,
    Measurement.environment,
    Measurement.evidence,
    Measurement.verdict_detail,
    Measurement.layer_profile,
)


def latest_measurements(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    subject_kind: SubjectKind | str,
    batch_size: int,
    subjects: Sequence[str] | None = None,
    space_ref: str | None = None,
    include: Collection[Verdict] = CLEAN_ONLY,
) -> dict[str, Measurement]:
    """The latest accepted measurement per subject whose verdict is in ``include`` (clean
    only by default), optionally restricted to ``subjects`` and/or one space instance.

    The rows come without their raw timings, evidence and layer profile (loaded on access):
    a table or a progress poll needs the statistics, and decoding thousands of raw times per
    sub-millisecond key on each poll of a growing table kept an embedded server busy enough
    for the agent beside it to flag its own measurements disturbed."""
    kind = parse_enum(SubjectKind, subject_kind, "subject_kind")
    filters = [
        Measurement.device_id == device.id,
        Measurement.runtime_config_id == runtime_config.id,
        Measurement.subject_kind == kind,
        Measurement.batch_size == batch_size,
        Measurement.accepted.is_(True),
        Measurement.verdict.in_(sorted_verdicts(frozenset(include))),
    ]
    if subjects is not None:
        if not subjects:
            return {}
        filters.append(Measurement.subject.in_(list(subjects)))
    if space_ref is not None:
        filters.append(Measurement.space_ref == space_ref)
    ranked = (
        select(
            Measurement.id,
            func.row_number()
            .over(
                partition_by=Measurement.subject,
                order_by=(Measurement.created_at.desc(), Measurement.id.desc()),
            )
            .label("rank"),
        )
        .where(*filters)
        .subquery()
    )
    stmt = (
        select(Measurement)
        .join(ranked, Measurement.id == ranked.c.id)
        .where(ranked.c.rank == 1)
        .options(*(defer(column) for column in _BULKY_COLUMNS))
    )
    return {m.subject: m for m in session.scalars(stmt)}


def lookup_table(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    batch_size: int,
    op_keys: Sequence[str] | None = None,
    space_ref: str | None = None,
    include: Collection[Verdict] = CLEAN_ONLY,
) -> dict[str, Measurement]:
    """The LUT of a device under a runtime config: latest accepted ``op`` measurement per key
    whose verdict is in ``include`` (clean only by default; design section 3). Op keys are
    shared between space instances with the same block."""
    return latest_measurements(
        session=session,
        device=device,
        runtime_config=runtime_config,
        subject_kind=SubjectKind.OP,
        batch_size=batch_size,
        subjects=op_keys,
        space_ref=space_ref,
        include=include,
    )
