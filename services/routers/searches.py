"""Searches: submit (validated against the space, the device and its latency data), list,
status, events (long-poll), result, Pareto plot, cancel, resume. Users see only their own
searches. The rules live in ``services.searches``, which the local CLI shares."""

from __future__ import annotations

from contextlib import nullcontext

from fastapi import APIRouter, Query, Request, Response

from latency_db.db import session_scope
from latency_db.models import SearchState
from latency_db.models.base import ID_LENGTH
from latency_db.search_spec import EstimatorName
from services import searches as service
from services.deps import CurrentUser, LongPollSlotsDep, SessionDep, SettingsDep, TaskQueueDep
from services.long_polls import TOO_MANY_WAITS_RESPONSE, Wake, poll
from services.schemas.common import MAX_OFFSET
from services.schemas.links import links_from
from services.schemas.searches import SearchCreate, SearchEventOut, SearchOut, SearchResultOut
from services.search_notices import NOTICED_READ_INTERVAL_S, SearchNotices

router = APIRouter(prefix="/searches", tags=["searches"])
LONG_POLL_MAX_S = 30.0


@router.post(
    "",
    status_code=201,
    response_model=SearchOut,
    responses=links_from(
        201,
        "search_id",
        "/id",
        "get_search",
        "search_events",
        "search_result",
        "search_pareto_png",
        "cancel_search",
        "resume_search",
    ),
)
def submit_search(
    body: SearchCreate, session: SessionDep, user: CurrentUser, tasks: TaskQueueDep
) -> SearchOut:
    """Validate and queue a search; a worker runs it in checkpointed segments."""
    return service.submit_search(session=session, user=user, body=body, tasks=tasks)


@router.get("", response_model=list[SearchOut])
def list_searches(
    session: SessionDep,
    user: CurrentUser,
    state: SearchState | None = None,
    estimator: EstimatorName | None = None,
    device_id: str | None = Query(None, min_length=1, max_length=ID_LENGTH),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[SearchOut]:
    """The caller's searches, newest first; ``state``, ``estimator`` and ``device_id`` filter."""
    return service.list_searches(
        session=session,
        user=user,
        state=state,
        estimator=estimator.value if estimator else None,
        device_id=device_id,
        limit=limit,
        offset=offset,
    )


@router.get("/{search_id}", response_model=SearchOut)
def get_search(search_id: str, session: SessionDep, user: CurrentUser) -> SearchOut:
    """One of your searches: state, progress, spec and latency model."""
    return service.search_out(service.owned_search(session, user, search_id))


@router.get(
    "/{search_id}/events",
    response_model=list[SearchEventOut],
    responses=TOO_MANY_WAITS_RESPONSE,
)
async def search_events(
    request: Request,
    search_id: str,
    user: CurrentUser,
    slots: LongPollSlotsDep,
    after: int = Query(0, ge=0, le=MAX_OFFSET, description="number of events already read"),
    limit: int = Query(500, ge=1, le=5000),
    wait: float = Query(0.0, ge=0.0, le=LONG_POLL_MAX_S, description="long-poll seconds"),
) -> list[SearchEventOut]:
    """Events in order from position ``after``; with ``wait`` the call holds until there is
    one or the search has ended. A wait holds no server thread and no database connection;
    on PostgreSQL it answers as soon as an event is stored (``services.search_notices``);
    a user holds at most ``long_polls_per_user`` waits at once (429 beyond)."""
    factory = request.app.state.session_factory

    def read() -> service.EventsPage:
        with session_scope(factory) as session:
            return service.read_events(
                session=session, user=user, search_id=search_id, after=after, limit=limit
            )

    notices: SearchNotices = request.app.state.search_notices
    async with slots.slot(user.id) if wait else nullcontext():
        with notices.watching(search_id) as news:
            page = await poll(
                read,
                service.EventsPage.final,
                wait_s=wait,
                interval_s=service.POLL_INTERVAL_S,
                max_interval_s=service.POLL_MAX_INTERVAL_S,
                hung_up=request.is_disconnected,
                wake=Wake(news, lambda: notices.listening, NOTICED_READ_INTERVAL_S),
            )
    return page.events


@router.get("/{search_id}/result", response_model=SearchResultOut)
def search_result(search_id: str, session: SessionDep, user: CurrentUser) -> SearchResultOut:
    """A finished search's result; 409 while it is still running."""
    return service.search_result(session=session, user=user, search_id=search_id)


@router.get(
    "/{search_id}/pareto.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def search_pareto_png(search_id: str, session: SessionDep, user: CurrentUser) -> Response:
    """Accuracy vs measured latency of the candidates, the budget and the chosen one."""
    search = service.succeeded_search(session, user, search_id)
    return Response(service.pareto_plot(search), media_type="image/png")


@router.post("/{search_id}/cancel", response_model=SearchOut)
def cancel_search(search_id: str, session: SessionDep, user: CurrentUser) -> SearchOut:
    """Cancel now if no worker holds it (pending, resuming); a running search's worker stops
    within one heartbeat."""
    return service.cancel_search(session=session, user=user, search_id=search_id)


@router.post("/{search_id}/resume", response_model=SearchOut)
def resume_search(
    search_id: str,
    session: SessionDep,
    user: CurrentUser,
    tasks: TaskQueueDep,
    settings: SettingsDep,
) -> SearchOut:
    """Continue a failed search, or a running one whose worker went silent, from its last
    checkpoint; 409 while its worker is alive."""
    return service.resume_search(
        session=session,
        user=user,
        search_id=search_id,
        tasks=tasks,
        stale_after_seconds=settings.search_stale_seconds,
    )
