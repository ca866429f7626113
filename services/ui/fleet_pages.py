"""The devices page: each device with its agents (state, backend, last heartbeat), its queue
depth and jobs by state, and its current speed index (``/v1/devices``, ``/v1/jobs``,
``/v1/devices/{id}/agents`` and ``/health``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from latency_db.models import JobState
from services.ui.api import UiApi
from services.ui.session import SessionDep

router = APIRouter()
JOB_COUNT_CAP = 1000  # the API's page limit: a state with more jobs shows "1000+"


# The calls of a page run one after another: each holds one of the server's threads and
# database connections while it runs, and a page must not take the pool from the API's callers.


async def _jobs_by_state(api: UiApi, device_id: str) -> dict[str, int]:
    return {
        state.value: len(
            await api.get("/jobs", device_id=device_id, state=state.value, limit=JOB_COUNT_CAP)
        )
        for state in JobState
    }


async def _device_view(api: UiApi, device: dict[str, Any]) -> dict[str, Any]:
    agents = await api.get(f"/devices/{device['id']}/agents")
    jobs = await _jobs_by_state(api, device["id"])
    health = await api.get(f"/devices/{device['id']}/health", limit=100)
    return {
        **device,
        "agents": agents,
        "jobs": jobs,
        "queue_depth": jobs[JobState.QUEUED.value],
        "speed_index": health["current"],
    }


@router.get("/devices")
async def devices_page(request: Request, session: SessionDep) -> Response:
    devices = await session.api.get("/devices")
    views = [await _device_view(session.api, d) for d in devices]
    return session.page(
        request,
        "devices.html",
        devices=views,
        job_states=[s.value for s in JobState],
        cap=JOB_COUNT_CAP,
    )
