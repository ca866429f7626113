"""Per-device lookup tables: build (queue the missing op jobs), read, LUT latency."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from latency_db.models import Device, Measurement, RuntimeConfig
from latency_db.repositories import devices as device_repo
from latency_db.repositories import jobs as job_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.spaces import SearchSpace
from services.deps import CurrentUser, SessionDep, SettingsDep, TaskQueueDep
from services.schemas.lookup_tables import (
    LutBuildIn,
    LutEntry,
    LutLatency,
    LutLatencyIn,
    LutOut,
    LutProgressOut,
    LutStatus,
)
from services.validation import build_space, parse_architecture, resolve_space_ref

router = APIRouter(prefix="/lookup-tables", tags=["lookup tables"])


def op_input_shapes(space: SearchSpace, batch_size: int) -> dict[str, list[int]]:
    """Every LUT key of the space instance with the NCHW input shape its block is timed at."""
    return {
        key: [batch_size, block.in_ch, block.in_hw, block.in_hw]
        for key, block in space.candidate_blocks().items()
    }


def _progress(
    session: Session, device: Device, runtime: RuntimeConfig, space: SearchSpace, batch: int
) -> LutProgressOut:
    progress = job_repo.lut_progress(
        session=session,
        device=device,
        runtime_config=runtime,
        batch_size=batch,
        op_keys=space.all_op_keys(),
    )
    return LutProgressOut(**asdict(progress))


def _entry(row: Measurement) -> LutEntry:
    return LutEntry(
        median_ms=row.median_ms,
        cv=row.cv,
        unstable=row.unstable,
        measurement_id=row.id,
        measured_at=row.created_at,
    )


@router.post("/build", status_code=202, response_model=LutStatus)
def build(
    body: LutBuildIn,
    session: SessionDep,
    settings: SettingsDep,
    tasks: TaskQueueDep,
    _: CurrentUser,
) -> LutStatus:
    """Queue an ``op`` job for every key not yet measured (idempotent); workers export them."""
    device = device_repo.get_device(session=session, device_id=body.device_id)
    space = build_space(body.space, body.resolution, body.width_mult, body.num_classes)
    runtime = runtime_repo.get_or_create_runtime_config(
        session=session, backend=body.runtime.backend, settings=body.runtime.settings
    )
    jobs = job_repo.enqueue_op_jobs(
        session=session,
        device=device,
        runtime_config=runtime,
        space_ref=space.ref,
        batch_size=body.batch_size,
        ops=op_input_shapes(space, body.batch_size),
        max_attempts=settings.max_attempts,
    )
    session.commit()
    tasks.export_jobs([job.id for job in jobs])
    return LutStatus(
        device_id=device.id,
        runtime_config_id=runtime.id,
        space_ref=space.ref,
        batch_size=body.batch_size,
        created_jobs=len(jobs),
        progress=_progress(session, device, runtime, space, body.batch_size),
    )


@router.get("", response_model=LutOut)
def read(
    session: SessionDep,
    _: CurrentUser,
    device_id: str,
    runtime_config_id: str,
    space_ref: str,
    batch_size: int = Query(default=32, ge=1),
) -> LutOut:
    """The table: the latest accepted measurement per op key of the space instance."""
    device = device_repo.get_device(session=session, device_id=device_id)
    runtime = runtime_repo.get_runtime_config(session=session, runtime_config_id=runtime_config_id)
    space = resolve_space_ref(space_ref)
    rows = measurement_repo.lookup_table(
        session=session,
        device=device,
        runtime_config=runtime,
        batch_size=batch_size,
        op_keys=space.all_op_keys(),
    )
    return LutOut(
        device_id=device.id,
        runtime_config_id=runtime.id,
        space_ref=space.ref,
        batch_size=batch_size,
        progress=_progress(session, device, runtime, space, batch_size),
        entries={key: _entry(row) for key, row in sorted(rows.items())},
    )


@router.post("/latency", response_model=list[LutLatency])
def lut_latency(body: LutLatencyIn, session: SessionDep, _: CurrentUser) -> list[LutLatency]:
    """LUT latency of architectures: the sum of their blocks' entries, stem and head included."""
    device = device_repo.get_device(session=session, device_id=body.device_id)
    runtime = runtime_repo.get_runtime_config(
        session=session, runtime_config_id=body.runtime_config_id
    )
    space = resolve_space_ref(body.space_ref)
    archs = [
        parse_architecture(space, text, f"architectures.{i}")
        for i, text in enumerate(body.architectures)
    ]
    table = measurement_repo.lookup_table(
        session=session,
        device=device,
        runtime_config=runtime,
        batch_size=body.batch_size,
        op_keys=space.all_op_keys(),
    )
    answers = []
    for arch in archs:
        keys = space.op_keys(arch)
        missing = sorted({k for k in keys if k not in table})
        total = None if missing else sum(table[k].median_ms for k in keys)
        answers.append(
            LutLatency(architecture=space.format(arch), lut_ms=total, missing_keys=missing)
        )
    return answers
