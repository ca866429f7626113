"""Per-device lookup tables: build (queue the missing op jobs), read, plot, LUT latency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from latency_db.models import User
from latency_db.repositories import devices as device_repo
from latency_db.repositories import runtime_configs as runtime_repo
from services.deps import CurrentUser, SessionDep, SettingsDep, TaskQueueDep
from services.lookup_tables import (
    TableRef,
    architecture_latencies,
    heatmap_png,
    queue_table,
    read_table,
    table_entries,
    table_ref,
)
from services.schemas.common import VerdictName
from services.schemas.lookup_tables import (
    LutBuildIn,
    LutEntriesIn,
    LutEntriesOut,
    LutLatency,
    LutLatencyIn,
    LutOut,
    LutStatus,
    TableIn,
)
from services.task_queue import commit_and_dispatch
from services.validation import build_space, parse_architecture, runtime_settings

router = APIRouter(prefix="/lookup-tables", tags=["lookup tables"])


def _table_query(
    session: SessionDep,
    user: CurrentUser,
    device_id: str,
    space_ref: str,
    runtime_config_id: Annotated[
        str | None,
        Query(description="default: the one runtime configuration the device was measured under"),
    ] = None,
    batch_size: Annotated[int, Query(ge=1, le=4096)] = 32,
    normalize_drift: Annotated[
        bool, Query(description="latencies at the device's reference speed (sentinel)")
    ] = False,
    include: Annotated[
        list[VerdictName],
        Query(max_length=3, description="verdicts besides clean the entries may have"),
    ] = [],  # noqa: B006 - FastAPI copies query defaults
) -> TableRef:
    return table_ref(
        session=session,
        device_id=device_id,
        space_ref=space_ref,
        batch_size=batch_size,
        runtime_config_id=runtime_config_id,
        normalize_drift=normalize_drift,
        include=include,
        viewer=user,
    )


TableQuery = Annotated[TableRef, Depends(_table_query)]


@router.post("/build", status_code=202, response_model=LutStatus)
def build(
    body: LutBuildIn,
    session: SessionDep,
    settings: SettingsDep,
    tasks: TaskQueueDep,
    user: CurrentUser,
) -> LutStatus:
    """Queue an ``op`` job for every key not yet measured (idempotent); workers export them."""
    ref = TableRef(
        device=device_repo.get_device(session=session, device_id=body.device_id, viewer=user),
        space=build_space(body.space, body.resolution, body.width_mult, body.num_classes),
        runtime_config=runtime_repo.get_or_create_runtime_config(
            session=session, backend=body.runtime.backend, settings=runtime_settings(body.runtime)
        ),
        batch_size=body.batch_size,
    )
    status, jobs = queue_table(session=session, ref=ref, max_attempts=settings.max_attempts)
    commit_and_dispatch(session, tasks, jobs)
    return status


@router.get("", response_model=LutOut)
def read(ref: TableQuery, session: SessionDep) -> LutOut:
    """The table: the latest accepted clean measurement per op key of the space instance
    (``include`` adds unstable/disturbed ones); ``trust`` says what it rests on."""
    return read_table(session=session, ref=ref)


@router.get(
    "/heatmap.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "layers x ops heatmap"}},
)
def heatmap(ref: TableQuery, session: SessionDep) -> Response:
    """The table as a heatmap (PNG, 900x1000): a row per layer, a column per op, each cell
    its latency in ms; ops not measured yet are hatched."""
    return Response(heatmap_png(ref, read_table(session=session, ref=ref)), media_type="image/png")


@router.post("/entries", response_model=LutEntriesOut)
def entries(body: LutEntriesIn, session: SessionDep, user: CurrentUser) -> LutEntriesOut:
    """Batch lookup: the entries of a list of op keys (null where not measured yet)."""
    ref = _body_ref(session, body, user)
    return table_entries(session=session, ref=ref, op_keys=body.op_keys)


@router.post("/latency", response_model=list[LutLatency])
def lut_latency(body: LutLatencyIn, session: SessionDep, user: CurrentUser) -> list[LutLatency]:
    """Latency of a batch of architectures in one call: the LUT sum of their blocks' entries
    (stem and head included) and, with ``predictor_id``, that version's prediction."""
    ref = _body_ref(session, body, user)
    archs = [
        parse_architecture(ref.space, text, f"architectures.{i}")
        for i, text in enumerate(body.architectures)
    ]
    return architecture_latencies(
        session=session, ref=ref, archs=archs, predictor_id=body.predictor_id
    )


def _body_ref(session: SessionDep, body: TableIn, user: User) -> TableRef:
    return table_ref(
        session=session,
        device_id=body.device_id,
        space_ref=body.space_ref,
        batch_size=body.batch_size,
        runtime_config_id=body.runtime_config_id,
        normalize_drift=body.normalize_drift,
        include=body.include,
        viewer=user,
    )
