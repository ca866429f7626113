"""A device's lookup table of a space instance: queue its op jobs, read it, plot it.

One implementation behind ``/v1/lookup-tables`` and the CLI's embedded-database path; the
caller owns the transaction (and enqueues the export of queued jobs after its commit).
A table is built on clean measurements only unless its reference includes other verdicts;
every answer says which verdicts it rests on (issue 16).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TypedDict

from sqlalchemy.orm import Session

from latency_db.errors import ValidationError
from latency_db.models import Device, Measurement, ProfilingJob, RuntimeConfig, User
from latency_db.predictors.selection import matching_predictor
from latency_db.predictors.versions import load_version, runtime_config_for
from latency_db.repositories import devices as device_repo
from latency_db.repositories import jobs as job_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories.speed import speed_indices_at
from latency_db.spaces import Architecture, SearchSpace
from latency_db.verdicts import Verdict, parse_verdicts, sorted_verdicts
from services.lut_grid import lut_grid
from services.schemas.lookup_tables import (
    LutEntriesOut,
    LutEntry,
    LutLatency,
    LutOut,
    LutProgressOut,
    LutStatus,
)
from services.validation import invalid, resolve_space_ref


class TableNames(TypedDict):
    device_id: str
    runtime_config_id: str
    space_ref: str
    batch_size: int


@dataclass(frozen=True)
class TableRef:
    """Which table: a device, a runtime configuration, a space instance and a batch size,
    built on measurements of the verdicts in ``include`` (clean only by default)."""

    device: Device
    runtime_config: RuntimeConfig
    space: SearchSpace
    batch_size: int
    normalize_drift: bool = False  # medians at the reference speed (repositories.speed)
    include: frozenset[Verdict] = field(default=measurement_repo.CLEAN_ONLY)

    def names(self) -> TableNames:
        """The ids that name the table in the API's answers."""
        return TableNames(
            device_id=self.device.id,
            runtime_config_id=self.runtime_config.id,
            space_ref=self.space.ref,
            batch_size=self.batch_size,
        )


def table_ref(
    *,
    session: Session,
    device_id: str,
    space_ref: str,
    batch_size: int,
    runtime_config_id: str | None = None,
    normalize_drift: bool = False,
    include: Iterable[str] = (),
    viewer: User | None = None,
) -> TableRef:
    """The table named by ids; without a runtime configuration, the one the device was
    measured under (a clear error when there is none or several). ``include``: verdicts
    besides ``clean`` its entries may have; a device ``viewer`` may not see is not found."""
    device = device_repo.get_device(session=session, device_id=device_id, viewer=viewer)
    space = resolve_space_ref(space_ref)
    runtime = runtime_config_for(
        session=session,
        device=device,
        space=space,
        batch_size=batch_size,
        runtime_config_id=runtime_config_id,
    )
    try:
        verdicts = parse_verdicts(list(include), "include")
    except ValidationError as err:
        raise invalid("include", str(err)) from None
    return TableRef(device, runtime, space, batch_size, normalize_drift, verdicts)


def op_input_shapes(space: SearchSpace, batch_size: int) -> dict[str, list[int]]:
    """Every LUT key of the space instance with the NCHW input shape its block is timed at."""
    return {
        key: [batch_size, block.in_ch, block.in_hw, block.in_hw]
        for key, block in space.candidate_blocks().items()
    }


def queue_table(
    *, session: Session, ref: TableRef, max_attempts: int
) -> tuple[LutStatus, list[ProfilingJob]]:
    """Queue an ``op`` job for every key not yet measured or queued (idempotent): the status
    and the new jobs, which a worker must export once the caller has committed."""
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
        **ref.names(),
        created_jobs=len(jobs),
        progress=progress(session=session, ref=ref),
    )
    return status, jobs


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


def _measured_entries(session: Session, ref: TableRef) -> dict[str, Measurement]:
    """The latest accepted measurement of each op key of the space instance measured so far,
    of the verdicts the table includes."""
    return measurement_repo.lookup_table(
        session=session,
        device=ref.device,
        runtime_config=ref.runtime_config,
        batch_size=ref.batch_size,
        op_keys=ref.space.all_op_keys(),
        include=ref.include,
    )


def trust_note(verdicts: Iterable[Verdict]) -> str:
    """What a table whose entries have ``verdicts`` rests on, in one line for people."""
    counts: Counter[Verdict] = Counter(v for v in verdicts if v is not Verdict.CLEAN)
    if not counts:
        return "built on clean measurements only"
    parts = ", ".join(f"{counts[v]} on {v.value}" for v in Verdict if counts[v])
    return (
        f"WARNING: {sum(counts.values())} entries rest on measurements that are not clean "
        f"({parts}; included on request): their latencies may be inflated"
    )


def read_table(*, session: Session, ref: TableRef) -> LutOut:
    """The table: the latest accepted measurement per op key of the space instance, of the
    verdicts it includes, and how many entries rest on non-clean data.

    The progress is read before the entries: a result committed between the two reads then
    shows in the entries, never in a progress that counts a key the entries lack."""
    done = progress(session=session, ref=ref)
    rows = _measured_entries(session, ref)
    entries = _entries(session, ref, rows)
    verdicts = [row.verdict for row in rows.values()]
    return LutOut(
        **ref.names(),
        normalize_drift=ref.normalize_drift,
        progress=done,
        entries=dict(sorted(entries.items())),
        verdicts_included=sorted_verdicts(ref.include),
        unclean_entries=sum(v is not Verdict.CLEAN for v in verdicts),
        trust=trust_note(verdicts),
    )


def table_entries(*, session: Session, ref: TableRef, op_keys: list[str]) -> LutEntriesOut:
    """The entries of these op keys in one read (null where not measured); a key that is
    not one of the space instance's is a 422 naming it."""
    known = set(ref.space.all_op_keys())
    for i, key in enumerate(op_keys):
        if key not in known:
            raise invalid(f"op_keys.{i}", f"{key!r} is not an op key of {ref.space.ref}")
    entries = _entries(session, ref, _measured_entries(session, ref))
    return LutEntriesOut(**ref.names(), entries={key: entries.get(key) for key in op_keys})


def architecture_latencies(
    *, session: Session, ref: TableRef, archs: list[Architecture], predictor_id: str | None
) -> list[LutLatency]:
    """Each architecture's LUT sum (stem and head included; None while a key is missing)
    and, with ``predictor_id``, that version's prediction and spread: one call for both."""
    rows = _measured_entries(session, ref)
    # Raw sums need no speed series: read it only for a drift-normalized table.
    ms = (
        {key: entry.median_ms for key, entry in _entries(session, ref, rows).items()}
        if ref.normalize_drift
        else {key: row.median_ms for key, row in rows.items()}
    )
    predicted: list[tuple[float | None, float | None]] = [(None, None)] * len(archs)
    if predictor_id is not None:
        try:
            row = matching_predictor(
                session=session,
                predictor_id=predictor_id,
                device=ref.device,
                runtime_config=ref.runtime_config,
                space=ref.space,
                batch_size=ref.batch_size,
            )
        except ValidationError as err:
            raise invalid("predictor_id", str(err)) from None
        mean, std = load_version(row).predict(archs)
        predicted = [(float(m), float(s)) for m, s in zip(mean, std, strict=True)]
    answers = []
    for arch, (predicted_ms, std_ms) in zip(archs, predicted, strict=True):
        keys = ref.space.op_keys(arch)
        missing = sorted({k for k in keys if k not in rows})
        answers.append(
            LutLatency(
                architecture=ref.space.format(arch),
                lut_ms=None if missing else sum(ms[k] for k in keys),
                missing_keys=missing,
                unclean_keys=sorted(
                    {k for k in keys if k in rows and rows[k].verdict is not Verdict.CLEAN}
                ),
                predicted_ms=predicted_ms,
                std_ms=std_ms,
            )
        )
    return answers


def heatmap_png(ref: TableRef, table: LutOut) -> bytes:
    """The table as a layers x ops heatmap, titled with what it was measured on."""
    from services.plots.lut_heatmap import lut_heatmap_png  # matplotlib: only when plotting

    runtime = ref.runtime_config
    settings = json.dumps(runtime.settings, sort_keys=True)
    done = table.progress
    title = (
        f"{ref.device.name} · {runtime.backend} {settings} · {ref.space.ref} · "
        f"batch {ref.batch_size} · {done.measured} of {done.total} op keys measured "
        f"({'ms at the reference speed' if ref.normalize_drift else 'ms'})"
    )
    ms_by_key = {key: entry.median_ms for key, entry in table.entries.items()}
    return lut_heatmap_png(lut_grid(ref.space), ms_by_key, title)


def _entries(session: Session, ref: TableRef, rows: dict[str, Measurement]) -> dict[str, LutEntry]:
    """The table's entries from their measurements, each with the speed index of its time
    (bracketed by the sentinels around it, repositories.speed) and, when the table is
    drift-normalized, its median at the reference speed."""
    indices = speed_indices_at(session=session, rows=list(rows.values()))
    return {
        key: _entry(row, index, ref.normalize_drift)
        for (key, row), index in zip(rows.items(), indices, strict=True)
    }


def _entry(row: Measurement, speed_index: float | None, normalize_drift: bool) -> LutEntry:
    at_reference = row.median_ms * (1.0 if speed_index is None else speed_index)
    return LutEntry(
        median_ms=at_reference if normalize_drift else row.median_ms,
        measured_median_ms=row.median_ms,
        speed_index=speed_index,
        cv=row.cv,
        unstable=row.unstable,
        verdict=row.verdict.value,
        measurement_id=row.id,
        measured_at=row.created_at,
    )
