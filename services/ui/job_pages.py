"""Profile jobs: upload an ONNX model (``POST /v1/artifacts``) and profile it on a device
(``POST /v1/jobs``, kind ``model``), or profile an architecture of a space layer by layer
(kind ``layers``); the job list, and one job's page that reloads itself until the job ends,
then shows its measurement and, for a layers job, the per-layer table."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from latency_db.models import JobState
from services.ui.api import ApiRefused, UiApi
from services.ui.session import FormSessionDep, SessionDep, UiSession

router = APIRouter()
FINISHED = {JobState.SUCCEEDED.value, JobState.FAILED.value, JobState.CANCELED.value}
RELOAD_S = 2  # a running job's page reloads itself this often


async def _jobs_page(
    request: Request, session: UiSession, error: str | None = None, status_code: int = 200
) -> Response:
    return session.page(
        request,
        "jobs.html",
        status_code=status_code,
        jobs=await session.api.get("/jobs", limit=50),
        devices=await session.api.get("/devices"),
        error=error,
    )


@router.get("/jobs")
async def jobs_page(request: Request, session: SessionDep) -> Response:
    return await _jobs_page(request, session)


def _runtime(backend: str, threads: int) -> dict[str, Any]:
    return {"backend": backend, "settings": {"threads": threads}}


async def _submit(request: Request, session: UiSession, body: dict[str, Any]) -> Response:
    """The job's page once queued; the form again with the API's refusal otherwise."""
    try:
        job = await session.api.post("/jobs", body)
    except ApiRefused as err:
        if err.status not in (404, 409, 413, 422):
            raise
        return await _jobs_page(request, session, str(err).split(": ", 1)[-1], err.status)
    return RedirectResponse(f"/ui/jobs/{job['id']}", status_code=303)


@router.post("/jobs/model")
async def profile_model(
    request: Request,
    session: FormSessionDep,
    model: Annotated[UploadFile, File()],
    device_id: Annotated[str, Form(max_length=64)],
    backend: Annotated[str, Form(max_length=32)] = "ort-cpu",
    threads: Annotated[int, Form(ge=1, le=256)] = 1,
) -> Response:
    """Upload the ONNX file, then queue a ``model`` job for it on the device."""
    name = PurePath(model.filename or "model.onnx").name[:200] or "model.onnx"
    try:
        artifact = await session.api.post_bytes("/artifacts", await model.read(), name=name)
    except ApiRefused as err:
        if err.status not in (413, 422):
            raise
        return await _jobs_page(request, session, str(err).split(": ", 1)[-1], err.status)
    body = {
        "device_id": device_id,
        "runtime": _runtime(backend, threads),
        "kind": "model",
        "artifact_sha256": artifact["sha256"],
    }
    return await _submit(request, session, body)


@router.post("/jobs/layers")
async def profile_layers(
    request: Request,
    session: FormSessionDep,
    device_id: Annotated[str, Form(max_length=64)],
    space_ref: Annotated[str, Form(max_length=128)],
    architecture: Annotated[str, Form(max_length=4096)],
    batch_size: Annotated[int, Form(ge=1, le=4096)] = 1,
    backend: Annotated[str, Form(max_length=32)] = "ort-cpu",
    threads: Annotated[int, Form(ge=1, le=256)] = 1,
) -> Response:
    """Queue a ``layers`` job: a worker exports the architecture, an agent profiles it."""
    body = {
        "device_id": device_id,
        "runtime": _runtime(backend, threads),
        "kind": "layers",
        "space_ref": space_ref,
        "architecture": architecture,
        "batch_size": batch_size,
    }
    return await _submit(request, session, body)


async def _measurement_of(api: UiApi, job: dict[str, Any]) -> dict[str, Any] | None:
    """The measurement a finished job wrote (with raw times and any layer profile)."""
    rows = await api.get("/measurements", subject=job["subject"], device_id=job["device_id"])
    mine = [r for r in rows if r["job_id"] == job["id"]]
    return await api.get(f"/measurements/{mine[0]['id']}") if mine else None


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str, session: SessionDep) -> Response:
    job = await session.api.get(f"/jobs/{job_id}")
    finished = job["state"] in FINISHED
    measurement = None
    if job["state"] == JobState.SUCCEEDED.value:
        measurement = await _measurement_of(session.api, job)
    layers = (measurement or {}).get("layer_profile") or {}
    return session.page(
        request,
        "job.html",
        job=job,
        finished=finished,
        reload_s=RELOAD_S,
        m=measurement,
        layers=sorted(layers.get("layers", []), key=lambda layer: -layer["time_ms"]),
    )
