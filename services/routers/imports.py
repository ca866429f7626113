"""Importing published lookup tables and measurement sets; the CLI's local mode calls the
same ``latency_db.importers`` functions."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from latency_db.importers.measurement_csv import import_measurement_csv
from latency_db.importers.proxylessnas_lut import import_lut
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
def import_lookup_table(body: LutImportIn, session: SessionDep, _: CurrentUser) -> LutImportOut:
    """Store a published per-op table (ProxylessNAS YAML) as the device's LUT entries of a
    space instance; answers its coverage of the space's op keys. All or nothing."""
    result = import_lut(
        session=session,
        text=body.text,
        device_name=body.device,
        space=build_space(body.space, body.resolution, body.width_mult, None),
        batch_size=body.batch_size,
        device_kind=body.kind,
        source_name=body.source_name,
    )
    session.commit()
    return LutImportOut.model_validate(asdict(result))


@router.post("/measurements/import", response_model=MeasurementImportOut)
def import_measurements(
    body: MeasurementImportIn, session: SessionDep, _: CurrentUser
) -> MeasurementImportOut:
    """Store published whole-network latencies (CSV: arch, latency_ms[, batch]). Every row is
    checked first; a bad one is a 422 naming it, and nothing is written."""
    result = import_measurement_csv(
        session=session,
        text=body.text,
        device_name=body.device,
        space=build_space(body.space, body.resolution, body.width_mult, None),
        source_name=body.source_name,
        default_batch=body.batch_size,
        device_kind=body.kind,
    )
    session.commit()
    return MeasurementImportOut.model_validate(asdict(result))
