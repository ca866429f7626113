"""Importing published lookup tables and measurement sets; the CLI's local mode calls the
same ``latency_db.importers`` functions."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from sqlalchemy.orm import Session

from latency_db.errors import NotFound
from latency_db.importers.common import ImportSummary
from latency_db.importers.measurement_csv import import_measurement_csv
from latency_db.importers.proxylessnas_lut import import_lut
from latency_db.models import User
from latency_db.repositories import devices as device_repo
from services.deps import CurrentUser, SessionDep
from services.schemas.imports import (
    LutImportIn,
    LutImportOut,
    MeasurementImportIn,
    MeasurementImportOut,
)
from services.validation import build_space

router = APIRouter(tags=["imports"])


@router.post("/lookup-tables/import", response_model=LutImportOut)
def import_lookup_table(body: LutImportIn, session: SessionDep, user: CurrentUser) -> LutImportOut:
    """Store a published per-op table (ProxylessNAS YAML) as the device's LUT entries of a
    space instance (a new device is the caller's); answers its coverage of the space's op
    keys. All or nothing."""
    _check_target(session, body.device, user)
    result = import_lut(
        session=session,
        text=body.text,
        device_name=body.device,
        space=build_space(body.space, body.resolution, body.width_mult, None),
        batch_size=body.batch_size,
        device_kind=body.kind,
        source_name=body.source_name,
    )
    _own_created(session, result.summary, user)
    session.commit()
    return LutImportOut.model_validate(asdict(result))


@router.post("/measurements/import", response_model=MeasurementImportOut)
def import_measurements(
    body: MeasurementImportIn, session: SessionDep, user: CurrentUser
) -> MeasurementImportOut:
    """Store published whole-network latencies (CSV: arch, latency_ms[, batch]) of the
    caller's device (a new one is theirs). Every row is checked first; a bad one is a 422
    naming it, and nothing is written."""
    _check_target(session, body.device, user)
    result = import_measurement_csv(
        session=session,
        text=body.text,
        device_name=body.device,
        space=build_space(body.space, body.resolution, body.width_mult, None),
        source_name=body.source_name,
        default_batch=body.batch_size,
        device_kind=body.kind,
    )
    _own_created(session, result.summary, user)
    session.commit()
    return MeasurementImportOut.model_validate(asdict(result))


def _check_target(session: Session, device_name: str, user: User) -> None:
    """An existing device of that name must be one the caller sees: others are not found."""
    try:
        device = device_repo.get_device_by_name(session=session, name=device_name)
    except NotFound:
        return  # the import creates it
    if not device_repo.can_see(user, device):
        raise NotFound(f"device {device_name!r} not found")
    device_repo.check_owner(device, user)


def _own_created(session: Session, summary: ImportSummary, user: User) -> None:
    """A device the import created is the caller's."""
    if summary.device_created:
        device_repo.get_device(session=session, device_id=summary.device_id).owner_id = user.id
