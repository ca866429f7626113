"""A device's lookup table of a space instance: queue its op jobs, read it, plot it.

One implementation behind ``/v1/lookup-tables`` and the CLI's embedded-database path; the
caller owns the transaction (and enqueues the export of queued jobs after its commit).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from latency_db.models import Device, Measurement, RuntimeConfig
from latency_db.predictors.versions import runtime_config_for
from latency_db.repositories import devices as device_repo
from latency_db.repositories import jobs as job_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.spaces import SearchSpace
from services.lut_grid import lut_grid
from services.schemas.lookup_tables import LutEntry, LutOut, LutProgressOut, LutStatus
from services.validation import resolve_space_ref


@dataclass(frozen=True)
class TableRef:
    """Which table: a device, a runtime configuration, a space instance and a batch size."""

    device: Device
    runtime_config: RuntimeConfig
    space: SearchSpace
    batch_size: int


def table_ref(
    *,
    session: Session,
    device_id: str,
    space_ref: str,
    batch_size: int,
    runtime_config_id: str | None = None,
) -> TableRef:
    """The table named by ids; without a runtime configuration, the one the device was
    measured under (a clear error when there is none or several)."""
    device = device_repo.get_device(session=session, device_id=device_id)
    space = resolve_space_ref(space_ref)
    runtime = runtime_config_for(
        session=session,
        device=device,
        space=space,
        batch_size=batch_size,
        runtime_config_id=runtime_config_id,
    )
    return TableRef(device, runtime, space, batch_size)


def op_input_shapes(space: SearchSpace, batch_size: int) -> dict[str, list[int]]:
    """Every LUT key of the space instance with the NCHW input shape its block is timed at."""
    return {
        key: [batch_size, block.in_ch, block.in_hw, block.in_hw]
        for key, block in space.candidate_blocks().items()
    }


def queue_table(
    *, session: Session, ref: TableRef, max_attempts: int
) -> tuple[LutStatus, list[str]]:
    """Queue an ``op`` job for every key not yet measured or queued (idempotent): the status
    and the new jobs' ids, which a worker must export once the caller has committed."""
    jobs = job_repo.enqueue_op_jobs(
        session=session,
        device=ref.device,
        runtime_config=ref.runtime_config,
        space_ref=ref.space.ref,
        batch_size=ref.batch_size,
        ops=op_input_shapes(ref.space, ref.batch_size),
        max_attempts=max_attempts,
    )
    status = LutStatus(
        device_id=ref.device.id,
        runtime_config_id=ref.runtime_config.id,
        space_ref=ref.space.ref,
        batch_size=ref.batch_size,
        created_jobs=len(jobs),
        progress=progress(session=session, ref=ref),
    )
    return status, [job.id for job in jobs]


def progress(*, session: Session, ref: TableRef) -> LutProgressOut:
    """Measured, queued, leased and failed keys of the table."""
    state = job_repo.lut_progress(
        session=session,
        device=ref.device,
        runtime_config=ref.runtime_config,
        batch_size=ref.batch_size,
        op_keys=ref.space.all_op_keys(),
    )
    return LutProgressOut(**asdict(state))


def read_table(*, session: Session, ref: TableRef) -> LutOut:
    """The table: the latest accepted measurement per op key of the space instance."""
    rows = measurement_repo.lookup_table(
        session=session,
        device=ref.device,
        runtime_config=ref.runtime_config,
        batch_size=ref.batch_size,
        op_keys=ref.space.all_op_keys(),
    )
    return LutOut(
        device_id=ref.device.id,
        runtime_config_id=ref.runtime_config.id,
        space_ref=ref.space.ref,
        batch_size=ref.batch_size,
        progress=progress(session=session, ref=ref),
        entries={key: _entry(row) for key, row in sorted(rows.items())},
    )


def heatmap_png(ref: TableRef, table: LutOut) -> bytes:
    """The table as a layers x ops heatmap, titled with what it was measured on."""
    from services.plots.lut_heatmap import lut_heatmap_png  # matplotlib: only when plotting

    runtime = ref.runtime_config
    settings = json.dumps(runtime.settings, sort_keys=True)
    done = table.progress
    title = (
        f"{ref.device.name} · {runtime.backend} {settings} · {ref.space.ref} · "
        f"batch {ref.batch_size} · {done.measured} of {done.total} op keys measured (ms)"
    )
    ms_by_key = {key: entry.median_ms for key, entry in table.entries.items()}
    return lut_heatmap_png(lut_grid(ref.space), ms_by_key, title)


def _entry(row: Measurement) -> LutEntry:
    return LutEntry(
        median_ms=row.median_ms,
        cv=row.cv,
        unstable=row.unstable,
        measurement_id=row.id,
        measured_at=row.created_at,
    )
