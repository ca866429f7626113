"""Profiling jobs: submit a network, layer-profile or uploaded-model job; list, get, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Query

from latency_db.models import JobState
from latency_db.repositories import artifacts as artifact_repo
from latency_db.repositories import devices as device_repo
from latency_db.repositories import jobs as job_repo
from latency_db.repositories import runtime_configs as runtime_repo
from services.deps import CurrentUser, SessionDep, SettingsDep, TaskQueueDep
from services.network_jobs import queue_network_jobs
from services.schemas.common import MAX_OFFSET
from services.schemas.jobs import JobCreate, JobOut
from services.schemas.links import links_from
from services.task_queue import commit_and_dispatch
from services.validation import invalid, parse_architecture, resolve_space_ref, runtime_settings

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post(
    "",
    status_code=201,
    response_model=JobOut,
    responses=links_from(201, "job_id", "/id", "get_job", "cancel_job"),
)
def submit_job(
    body: JobCreate,
    session: SessionDep,
    settings: SettingsDep,
    tasks: TaskQueueDep,
    user: CurrentUser,
) -> JobOut:
    """Queue a job; a network's ONNX file is exported by a worker before agents see it. A
    broker outage does not refuse it: the export is sent once the broker is back."""
    device = device_repo.get_device(session=session, device_id=body.device_id, viewer=user)
    runtime = runtime_repo.get_or_create_runtime_config(
        session=session, backend=body.runtime.backend, settings=runtime_settings(body.runtime)
    )
    if body.kind == "model":
        if not body.artifact_sha256:
            raise invalid("artifact_sha256", "a model job needs an uploaded artifact")
        artifact = artifact_repo.get_artifact_for_user(
            session=session, sha256=body.artifact_sha256, user=user
        )
        job = job_repo.create_job(
            session=session,
            device=device,
            runtime_config=runtime,
            kind=body.kind,
            subject=artifact.subject,
            batch_size=artifact.input_shape[0],
            input_shape=artifact.input_shape,
            max_attempts=settings.max_attempts,
            artifact=artifact,
            priority=body.priority,
        )
    else:
        space = resolve_space_ref(body.space_ref)
        (job,) = queue_network_jobs(
            session=session,
            device=device,
            runtime_config=runtime,
            space=space,
            architectures=[parse_architecture(space, body.architecture)],
            batch_size=body.batch_size,
            max_attempts=settings.max_attempts,
            kind=body.kind,
            priority=body.priority,
        )
    commit_and_dispatch(session, tasks, [job] if job.artifact_sha256 is None else [])
    return JobOut.model_validate(job)


@router.get("", response_model=list[JobOut])
def list_jobs(
    session: SessionDep,
    user: CurrentUser,
    device_id: str | None = None,
    state: JobState | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> list[JobOut]:
    """Profiling jobs of the caller's devices, newest first, optionally of one device or in
    one state."""
    device = (
        device_repo.get_device(session=session, device_id=device_id, viewer=user)
        if device_id
        else None
    )
    jobs = job_repo.list_jobs(
        session=session, device=device, state=state, limit=limit, offset=offset, viewer=user
    )
    return [JobOut.model_validate(j) for j in jobs]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobOut:
    """One profiling job with its state, attempt and error."""
    return JobOut.model_validate(job_repo.get_job(session=session, job_id=job_id, viewer=user))


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobOut:
    """Cancel now if queued; a leased job's agent is told on its next heartbeat."""
    job = job_repo.get_job(session=session, job_id=job_id, viewer=user)
    job = job_repo.cancel_job(session=session, job=job)
    session.commit()
    return JobOut.model_validate(job)
