"""Measurements (read only): immutable timings with their raw samples and environment."""

from __future__ import annotations

from fastapi import APIRouter, Query

from latency_db.models import SubjectKind
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.verdicts import Verdict
from services.deps import CurrentUser, SessionDep
from services.schemas.common import MAX_OFFSET
from services.schemas.jobs import MeasurementDetail, MeasurementOut

router = APIRouter(prefix="/measurements", tags=["measurements"])


@router.get("", response_model=list[MeasurementOut])
def list_measurements(
    session: SessionDep,
    user: CurrentUser,
    device_id: str | None = None,
    runtime_config_id: str | None = None,
    subject_kind: SubjectKind | None = None,
    subject: str | None = None,
    verdict: Verdict | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> list[MeasurementOut]:
    """Measurements, newest first, filtered by device, runtime config, subject or verdict."""
    device = (
        device_repo.get_device(session=session, device_id=device_id, viewer=user)
        if device_id
        else None
    )
    runtime = (
        runtime_repo.get_runtime_config(session=session, runtime_config_id=runtime_config_id)
        if runtime_config_id
        else None
    )
    rows = measurement_repo.list_measurements(
        session=session,
        device=device,
        runtime_config=runtime,
        subject_kind=subject_kind,
        subject=subject,
        verdict=verdict,
        limit=limit,
        offset=offset,
        viewer=user,
    )
    return [MeasurementOut.model_validate(m) for m in rows]


@router.get("/{measurement_id}", response_model=MeasurementDetail)
def get_measurement(
    measurement_id: str, session: SessionDep, user: CurrentUser
) -> MeasurementDetail:
    """One measurement with its raw per-run times, environment, per-layer profile, the
    agent's interference evidence and its verdict's detail."""
    row = measurement_repo.get_measurement(
        session=session, measurement_id=measurement_id, viewer=user
    )
    return MeasurementDetail.model_validate(row)
