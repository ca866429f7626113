"""Searches as one service layer behind both ``/v1/searches`` and the local ``hwnas search``:
a submission checked against the space, the device and its latency data; ownership; the
cancel and resume rules; the answers' shapes.

Functions that change a search own the end of the transaction: they commit, then enqueue
the worker's segment, so a worker never sees a search that is not yet stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from sqlalchemy.orm import Session

from latency_db.errors import Conflict, NotFound, ValidationError
from latency_db.models import Search, SearchState, User
from latency_db.predictors.selection import lut_model, search_latency_model
from latency_db.predictors.versions import runtime_config_for
from latency_db.repositories import artifacts as artifact_repo
from latency_db.repositories import datasets as dataset_repo
from latency_db.repositories import devices as device_repo
from latency_db.repositories import searches as search_repo
from latency_db.repositories.measurements import CLEAN_ONLY, EVERY_VERDICT
from latency_db.search_spec import submission_problems
from services.errors import request_invalid
from services.plots.pareto import pareto_png
from services.schemas.jobs import ArtifactOut
from services.schemas.searches import SearchCreate, SearchEventOut, SearchOut, SearchResultOut
from services.task_queue import TaskQueue, commit_and_dispatch
from services.validation import invalid

# A long-poll reads the events again after 0.5 s, then 1 s, then every 2 s.
POLL_INTERVAL_S, POLL_MAX_INTERVAL_S = 0.5, 2.0


def parse_submission(body: Mapping[str, Any]) -> SearchCreate:
    """The submission the API would read from this JSON body, with the API's 422 if not."""
    try:
        return SearchCreate.model_validate(body)
    except pydantic.ValidationError as err:
        raise request_invalid(err.errors()) from None


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
    """The caller's search (any search for an admin); another user's is not found."""
    search = search_repo.get_search(session=session, search_id=search_id)
    if search.owner_id != user.id and not user.is_admin:
        raise NotFound(f"search {search_id} not found")
    return search


def submit_search(
    *, session: Session, user: User, body: SearchCreate, tasks: TaskQueue
) -> SearchOut:
    """Validate, store and queue a search; a worker runs it in checkpointed segments."""
    spec = body.config
    problems = submission_problems(body.estimator, spec)
    if problems:
        raise invalid(*next(iter(problems.items())))
    try:
        device = device_repo.get_device(session=session, device_id=body.device_id, viewer=user)
    except NotFound:
        raise invalid("device_id", f"unknown device {body.device_id!r}") from None
    try:
        root = dataset_repo.dataset_root(session=session, name=spec.dataset)
    except NotFound as err:
        raise invalid("config.dataset", str(err)) from None
    deploy = spec.deploy_space()
    lut_verdicts = EVERY_VERDICT if spec.include_unclean else CLEAN_ONLY
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
            include=lut_verdicts,
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
        include=lut_verdicts,
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
        config={
            "spec": spec.model_dump(),
            "dataset_root": root,  # the admin's folder: workers read it, users never see it
            "latency_model": latency,
            "lut_model": lut,
        },
        budget_ms=body.budget_ms,
        estimator=body.estimator,
    )
    commit_and_dispatch(session, tasks, [search])
    return search_out(search)


def list_searches(
    *,
    session: Session,
    user: User,
    state: SearchState | None,
    limit: int,
    offset: int,
    estimator: str | None = None,
    device_id: str | None = None,
) -> list[SearchOut]:
    """The user's searches, newest first, optionally of one estimator or device."""
    rows = search_repo.list_searches(
        session=session,
        owner=user,
        state=state,
        estimator=estimator,
        device_id=device_id,
        limit=limit,
        offset=offset,
    )
    return [search_out(s) for s in rows]


@dataclass(frozen=True)
class EventsPage:
    """One read of a search's events from a position, and whether the search has ended."""

    events: list[SearchEventOut]
    ended: bool

    def final(self) -> bool:
        """A long-poll answers now: there are events, or no more will come."""
        return bool(self.events) or self.ended


def read_events(
    *, session: Session, user: User, search_id: str, after: int, limit: int
) -> EventsPage:
    """Events in order from position ``after`` (events already read), in one read; a
    long-poll repeats it (``services.long_polls.poll``) until the page is final."""
    search = owned_search(session, user, search_id)
    events = search_repo.list_search_events(
        session=session, search=search, offset=after, limit=limit
    )
    return EventsPage(
        [SearchEventOut.model_validate(e) for e in events], search.state in search_repo.TERMINAL
    )


def search_result(*, session: Session, user: User, search_id: str) -> SearchResultOut:
    """The result of an ended search; a 409 ``not_finished`` before the end."""
    search = owned_search(session, user, search_id)
    if search.state not in search_repo.TERMINAL:
        raise Conflict(
            f"search {search_id} is {search.state.value}, not finished", code="not_finished"
        )
    exported = (search.result or {}).get("artifacts", {})
    artifacts = [
        ArtifactOut.model_validate(artifact_repo.get_artifact(session=session, sha256=sha256))
        for sha256 in exported.values()
    ]
    return SearchResultOut(
        search_id=search.id, state=search.state.value, result=search.result, artifacts=artifacts
    )


def succeeded_search(session: Session, user: User, search_id: str) -> Search:
    """The user's search that ended with a result (a 409 ``not_finished`` otherwise)."""
    search = owned_search(session, user, search_id)
    if search.state is not SearchState.SUCCEEDED or not search.result:
        raise Conflict(
            f"search {search_id} has no result ({search.state.value})", code="not_finished"
        )
    return search


def pareto_plot(search: Search) -> bytes:
    """The PNG of a succeeded search's candidates: accuracy vs measured latency, the budget."""
    title = (
        f"search {search.id}: {search.estimator} on {search.space_ref}, "
        f"budget {search.budget_ms:g} ms"
    )
    return pareto_png(search.result or {}, title)


def cancel_search(*, session: Session, user: User, search_id: str) -> SearchOut:
    """Cancel now if no worker holds it (pending, resuming); a running search's worker stops
    within one heartbeat."""
    search = search_repo.request_search_cancel(
        session=session, search=owned_search(session, user, search_id)
    )
    session.commit()
    return search_out(search)


def resume_search(
    *, session: Session, user: User, search_id: str, tasks: TaskQueue, stale_after_seconds: float
) -> SearchOut:
    """Continue a failed search, or a running one whose worker has been silent for
    ``stale_after_seconds``, from its last checkpoint; a 409 while its worker is alive."""
    search = search_repo.resume_search(
        session=session,
        search=owned_search(session, user, search_id),
        stale_after_seconds=stale_after_seconds,
    )
    commit_and_dispatch(session, tasks, [search])
    return search_out(search)
