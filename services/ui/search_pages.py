"""Searches: the list with a state filter; one search, live (its step events streamed to the
browser as server-sent events, relayed from the API's long-poll ``/v1/searches/{id}/events``:
one held request per open page, no polling loop in the browser); its result with the
interactive Pareto plot and artifacts; cancel and resume for its owner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from hwnas.searches import SUFFIX
from latency_db.models import SearchState
from latency_db.models.base import ID_LENGTH
from latency_db.search_spec import EstimatorName
from services.long_polls import server_stopping
from services.ui.api import ApiRefused, UiApi
from services.ui.pareto_svg import pareto_svg
from services.ui.session import FormSessionDep, SessionDep

router = APIRouter()

ENDED = {SearchState.SUCCEEDED.value, SearchState.FAILED.value, SearchState.CANCELED.value}
STREAM_WAIT_S = 25.0  # one long-poll of the API per open page at a time
BUSY_RETRY_S = 2.0  # the user holds all their long-poll slots: try again after this
RECONNECT_MS = 3000
EVENTS_PER_READ = 500


@router.get("/searches")
async def searches_page(
    request: Request,
    session: SessionDep,
    state: Annotated[SearchState | Literal[""], Query()] = "",
    estimator: Annotated[EstimatorName | Literal[""], Query()] = "",
    device_id: Annotated[str, Query(max_length=ID_LENGTH)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Your searches with the state, estimator and device filters (the form's empty choice,
    "any", is no filter)."""
    state_value = state.value if isinstance(state, SearchState) else ""
    estimator_value = estimator.value if isinstance(estimator, EstimatorName) else ""
    searches = await session.api.get(
        "/searches", limit=limit, state=state_value, estimator=estimator_value, device_id=device_id
    )
    devices = await session.api.get("/devices")
    return session.page(
        request,
        "searches.html",
        searches=searches,
        states=[s.value for s in SearchState],
        estimators=[e.value for e in EstimatorName],
        devices=devices,
        device_names={d["id"]: d["name"] for d in devices},
        state=state_value,
        estimator=estimator_value,
        device_id=device_id,
    )


@router.get("/searches/{search_id}")
async def search_page(request: Request, search_id: str, session: SessionDep) -> Response:
    search = await session.api.get(f"/searches/{search_id}")
    events = await session.api.get(f"/searches/{search_id}/events", limit=5000)
    result = None
    if search["state"] == SearchState.SUCCEEDED.value:
        result = (await session.api.get(f"/searches/{search_id}/result"))["result"]
    return session.page(
        request,
        "search.html",
        search=search,
        steps=[e["payload"] for e in events if e["kind"] == "step"],
        events_read=len(events),
        result=result,
        pareto=pareto_svg(result) if result and result.get("candidates") else None,
        owner=search["owner_id"] == session.me["id"],
        ended=search["state"] in ENDED,
    )


def _sse(kind: str, data: Any, position: int | None = None) -> str:
    head = f"id: {position}\n" if position is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n"


async def _relay(api: UiApi, search_id: str, after: int) -> AsyncIterator[str]:
    """``step`` events from position ``after``, a ``state`` event when the search's state or
    progress changes, and ``end`` once it has ended and every event is sent. A stopping
    server closes the stream instead of holding its shutdown."""
    yield f"retry: {RECONNECT_MS}\n\n"
    position, last_state = after, None
    while True:
        try:
            events = await api.get(
                f"/searches/{search_id}/events",
                after=position,
                limit=EVENTS_PER_READ,
                wait=STREAM_WAIT_S,
            )
            search = await api.get(f"/searches/{search_id}")
        except ApiRefused as err:
            if err.status == 429:
                await asyncio.sleep(BUSY_RETRY_S)
                continue
            yield _sse("end", {"error": str(err)})
            return
        for event in events:
            position += 1
            yield _sse(event["kind"], event["payload"], position)
        state = {"state": search["state"], "progress": search["progress"]}
        if state != last_state:
            last_state = state
            yield _sse("state", state)
        if search["state"] in ENDED and len(events) < EVENTS_PER_READ:
            yield _sse("end", {"state": search["state"]})
            return
        if server_stopping.is_set():
            return  # the browser reconnects (Last-Event-ID) to the server that comes next


@router.get("/searches/{search_id}/stream")
async def search_stream(
    search_id: str,
    session: SessionDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    """Server-sent events of one search; a reconnecting browser resumes after the last
    event it got (``Last-Event-ID``)."""
    await session.api.get(f"/searches/{search_id}")  # 404 before the stream starts
    start = last_event_id if last_event_id is not None else after
    return StreamingResponse(
        _relay(session.api, search_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/searches/{search_id}/cancel")
async def cancel_search(search_id: str, session: FormSessionDep) -> RedirectResponse:
    await session.api.post(f"/searches/{search_id}/cancel")
    return RedirectResponse(f"/ui/searches/{search_id}", status_code=303)


@router.post("/searches/{search_id}/resume")
async def resume_search(search_id: str, session: FormSessionDep) -> RedirectResponse:
    await session.api.post(f"/searches/{search_id}/resume")
    return RedirectResponse(f"/ui/searches/{search_id}", status_code=303)


@router.get("/artifacts/{sha256}")
async def download_artifact(sha256: str, session: SessionDep) -> Response:
    """An artifact's bytes (a search's exported network), named by its kind and hash."""
    meta = await session.api.get(f"/artifacts/{sha256}")
    content = await session.api.get_bytes(f"/artifacts/{sha256}/content")
    suffix = SUFFIX.get(meta.get("kind", ""), "")
    return Response(
        content.content,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{sha256[:16]}{suffix}"'},
    )
