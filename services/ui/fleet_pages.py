"""The devices page: each device with its agents (state, backend, last heartbeat), its queue
depth and jobs by state, its speed index now and over time per runtime configuration, and
the share of its measurements judged clean (``/v1/devices``, ``/v1/jobs``,
``/v1/devices/{id}/agents``, ``/health`` and ``/v1/measurements``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from latency_db.models import JobState
from latency_db.verdicts import Verdict
from services.ui.api import UiApi
from services.ui.session import SessionDep

router = APIRouter()
JOB_COUNT_CAP = 1000  # the API's page limit: a state with more jobs shows "1000+"
SPARK_WIDTH, SPARK_HEIGHT = 240, 40


# The calls of a page run one after another: each holds one of the server's threads and
# database connections while it runs, and a page must not take the pool from the API's callers.


async def _jobs_by_state(api: UiApi, device_id: str) -> dict[str, int]:
    return {
        state.value: len(
            await api.get("/jobs", device_id=device_id, state=state.value, limit=JOB_COUNT_CAP)
        )
        for state in JobState
    }


async def _measurements_by_verdict(api: UiApi, device_id: str) -> dict[str, int]:
    return {
        verdict.value: len(
            await api.get(
                "/measurements", device_id=device_id, verdict=verdict.value, limit=JOB_COUNT_CAP
            )
        )
        for verdict in Verdict
    }


def speed_paths(points: list[dict[str, Any]]) -> dict[str, str]:
    """Per runtime configuration, the SVG path of its speed index over time (stable points,
    oldest first, scaled to the sparkline's box); configurations with fewer than two left out."""
    series: dict[str, list[float]] = {}
    for point in points:
        if not point["unstable"]:
            series.setdefault(point["runtime_config_id"], []).append(point["speed_index"])
    paths = {}
    for runtime, values in series.items():
        if len(values) < 2:
            continue
        low, span = min(values), (max(values) - min(values)) or 1.0
        step = SPARK_WIDTH / (len(values) - 1)
        paths[runtime] = " ".join(
            f"{'L' if i else 'M'}{i * step:.1f} "
            f"{SPARK_HEIGHT - 2 - (v - low) / span * (SPARK_HEIGHT - 4):.1f}"
            for i, v in enumerate(values)
        )
    return paths


async def _device_view(api: UiApi, device: dict[str, Any]) -> dict[str, Any]:
    agents = await api.get(f"/devices/{device['id']}/agents")
    jobs = await _jobs_by_state(api, device["id"])
    health = await api.get(f"/devices/{device['id']}/health", limit=100)
    verdicts = await _measurements_by_verdict(api, device["id"])
    measured = sum(verdicts.values())
    return {
        **device,
        "agents": agents,
        "jobs": jobs,
        "queue_depth": jobs[JobState.QUEUED.value],
        "speed_index": health["current"],
        "speed_paths": speed_paths(health["points"]),
        "verdicts": verdicts,
        "clean_share": verdicts[Verdict.CLEAN.value] / measured if measured else None,
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
        spark=(SPARK_WIDTH, SPARK_HEIGHT),
    )
