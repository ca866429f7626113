"""Searches: submit (validated against the space, the device and its latency data), list,
status, events (long-poll), result, cancel, resume. Users see only their own searches."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from latency_db.errors import NotFound, ValidationError
from latency_db.models import Search, SearchState, User
from latency_db.predictors.selection import lut_model, search_latency_model
from latency_db.predictors.versions import runtime_config_for
from latency_db.repositories import devices as device_repo
from latency_db.repositories import searches as search_repo
from latency_db.search_spec import submission_problems
from services.deps import CurrentUser, SessionDep, TaskQueueDep
from services.errors import ApiError
from services.plots.pareto import pareto_png
from services.schemas.searches import SearchCreate, SearchEventOut, SearchOut, SearchResultOut
from services.validation import invalid

router = APIRouter(prefix="/searches", tags=["searches"])
LONG_POLL_MAX_S = 30.0


def search_out(search: Search) -> SearchOut:
    model = {k: v for k, v in search.config.get("latency_model", {}).items() if k != "params"}
    return SearchOut.model_validate(
        {
            **{c: getattr(search, c) for c in SearchOut.model_fields if hasattr(search, c)},
            "state": search.state.value,
            "latency_model": model,
            "spec": search.config.get("spec", {}),
        }
    )


def owned_search(session: Session, user: User, search_id: str) -> Search:
    """The caller's search; another user's is reported as not found."""
    search = search_repo.get_search(session=session, search_id=search_id)
    if search.owner_id != user.id and not user.is_admin:
        raise NotFound(f"search {search_id} not found")
    return search


@router.post("", status_code=201, response_model=SearchOut)
def submit_search(
    body: SearchCreate, session: SessionDep, user: CurrentUser, tasks: TaskQueueDep
) -> SearchOut:
    """Validate and queue a search; a worker runs it in checkpointed segments."""
    spec = body.config
    problems = submission_problems(body.estimator, spec, body.budget_ms)
    if problems:
        raise invalid(*next(iter(problems.items())))
    try:
        device = device_repo.get_device(session=session, device_id=body.device_id)
    except NotFound:
        raise invalid("device_id", f"unknown device {body.device_id!r}") from None
    deploy = spec.deploy_space()
    try:
        runtime = runtime_config_for(
            session=session,
            device=device,
            space=deploy,
            batch_size=spec.deploy_batch,
            runtime_config_id=body.runtime_config_id,
        )
        latency = search_latency_model(
            session=session,
            device=device,
            runtime_config=runtime,
            space=deploy,
            batch_size=spec.deploy_batch,
            predictor_id=spec.predictor_id,
        )
    except (ValidationError, NotFound) as err:
        raise invalid(
            "config.predictor_id" if spec.predictor_id else "device_id", str(err)
        ) from None
    lut = lut_model(
        session=session,
        device=device,
        runtime_config=runtime,
        space=deploy,
        batch_size=spec.deploy_batch,
    )
    if spec.oracle == "lut" and lut is None:
        raise invalid(
            "config.oracle", f"device {device.name!r} has no complete lookup table for {deploy.ref}"
        )
    search = search_repo.create_search(
        session=session,
        owner=user,
        device=device,
        runtime_config=runtime,
        space_ref=deploy.ref,
        config={"spec": spec.model_dump(), "latency_model": latency, "lut_model": lut},
        budget_ms=body.budget_ms,
        estimator=body.estimator,
    )
    session.commit()
    tasks.search_segment(search.id, 0)
    return search_out(search)


@router.get("", response_model=list[SearchOut])
def list_searches(
    session: SessionDep,
    user: CurrentUser,
    state: SearchState | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[SearchOut]:
    """The caller's searches, newest first."""
    rows = search_repo.list_searches(
        session=session, owner=user, state=state, limit=limit, offset=offset
    )
    return [search_out(s) for s in rows]


@router.get("/{search_id}", response_model=SearchOut)
def get_search(search_id: str, session: SessionDep, user: CurrentUser) -> SearchOut:
    return search_out(owned_search(session, user, search_id))


@router.get("/{search_id}/events", response_model=list[SearchEventOut])
def search_events(
    search_id: str,
    session: SessionDep,
    user: CurrentUser,
    after: int = Query(0, ge=0, description="number of events already read"),
    limit: int = Query(500, ge=1, le=5000),
    wait: float = Query(0.0, ge=0.0, le=LONG_POLL_MAX_S, description="long-poll seconds"),
) -> list[SearchEventOut]:
    """Events in order from position ``after``; with ``wait`` the call holds until there is
    one or the search has ended."""
    search = owned_search(session, user, search_id)
    deadline = time.monotonic() + wait
    while True:
        events = search_repo.list_search_events(
            session=session, search=search, offset=after, limit=limit
        )
        if events or search.state in search_repo.TERMINAL or time.monotonic() >= deadline:
            return [SearchEventOut.model_validate(e) for e in events]
        session.commit()  # end the read so a new snapshot sees the worker's commits
        time.sleep(0.5)
        session.refresh(search)


@router.get("/{search_id}/result", response_model=SearchResultOut)
def search_result(search_id: str, session: SessionDep, user: CurrentUser) -> SearchResultOut:
    search = owned_search(session, user, search_id)
    if search.state not in search_repo.TERMINAL:
        raise ApiError(409, "not_finished", f"search {search_id} is {search.state.value}")
    return SearchResultOut(search_id=search.id, state=search.state.value, result=search.result)


@router.get(
    "/{search_id}/pareto.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def search_pareto_png(search_id: str, session: SessionDep, user: CurrentUser) -> Response:
    """Accuracy vs measured latency of the candidates, the budget and the chosen one."""
    search = owned_search(session, user, search_id)
    if search.state is not SearchState.SUCCEEDED or not search.result:
        raise ApiError(
            409, "not_finished", f"search {search_id} has no result ({search.state.value})"
        )
    title = (
        f"search {search.id}: {search.estimator} on {search.space_ref}, "
        f"budget {search.budget_ms:g} ms"
    )
    return Response(pareto_png(search.result, title), media_type="image/png")


@router.post("/{search_id}/cancel", response_model=SearchOut)
def cancel_search(search_id: str, session: SessionDep, user: CurrentUser) -> SearchOut:
    """Cancel now if pending; a running search stops at its next segment boundary."""
    search = search_repo.request_search_cancel(
        session=session, search=owned_search(session, user, search_id)
    )
    session.commit()
    return search_out(search)


@router.post("/{search_id}/resume", response_model=SearchOut)
def resume_search(
    search_id: str, session: SessionDep, user: CurrentUser, tasks: TaskQueueDep
) -> SearchOut:
    """Continue a failed (or stuck running) search from its last checkpoint."""
    search = search_repo.resume_search(
        session=session, search=owned_search(session, user, search_id)
    )
    segment = int(search.progress.get("segment", 0))
    session.commit()
    tasks.search_segment(search.id, segment)
    return search_out(search)
