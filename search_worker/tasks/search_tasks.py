"""Run a search as checkpointed segments (design section 9).

``hwnas.search.segment(search_id, segment)`` claims the segment with a compare-and-set that
gives this worker an owner token (a stale, redelivered or duplicated copy does nothing),
rebuilds the run from the last checkpoint, runs ``segment_steps`` steps, writes the
checkpoint, commits progress and events, and only then enqueues the next segment (a broker
that refuses leaves it to the API's sweeper); the last one finishes the search. A heartbeat
thread keeps the claim alive from the claim to the end of the segment and reports a lost
claim or a cancel, which the step loop reads at every step. Every write after the claim is
owner-checked: a worker that lost its claim stops without writing anything and enqueues
nothing. A worker asked to stop (``worker_stop``) ends its segment at the next step, commits
it and sends the rest on, before the finish too. A killed worker's search is marked RESUMING
by the API's sweeper and continues on another worker from its last checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from celery import Celery, Task, shared_task
from kombu.exceptions import OperationalError

from latency_db.broker import QUEUE_SEARCH, TASK_SEARCH_SEGMENT
from latency_db.db import session_scope
from latency_db.models import SearchState
from latency_db.repositories import searches as search_repo
from search_worker.context import WorkerContext, worker_context
from search_worker.devices import describe_device
from search_worker.search.assembly import StoredSearch, build_run
from search_worker.search.checkpoints import CheckpointStore
from search_worker.search.finish import finish_search
from search_worker.search.run import SearchRun
from search_worker.tasks.export_tasks import export_one, register_exported
from search_worker.tasks.segment_heartbeat import ClaimLost, SearchCanceled, SegmentHeartbeat
from search_worker.tasks.worker_stop import STOP_ASKED

log = logging.getLogger(__name__)
HEARTBEAT_S = 10.0  # at most; a quarter of the stale window when that is shorter
MAX_EVENTS_PER_SEARCH = 500


def _claim(context: WorkerContext, search_id: str, segment: int) -> tuple[StoredSearch, str] | None:
    """The search and this worker's owner token, or None when the segment is not ours."""
    stale_s = context.settings.search_stale_seconds
    with session_scope(context.sessions) as session:
        search = search_repo.get_search(session=session, search_id=search_id)
        if (
            search.cancel_requested
            and search.state not in search_repo.TERMINAL
            and not search_repo.has_live_claim(
                session=session, search=search, stale_after_seconds=stale_s
            )
        ):  # a live owner ends it itself, committing its segment first
            search_repo.transition_search(
                session=session, search=search, state=SearchState.CANCELED
            )
            return None
        token = search_repo.claim_segment(
            session=session, search=search, segment=segment, stale_after_seconds=stale_s
        )
        if token is None:
            log.info("search %s segment %d: not this worker's to run", search_id, segment)
            return None
        log.info("search %s segment %d: claimed", search_id, segment)
        stored = StoredSearch(
            search.id,
            search.estimator,
            search.budget_ms,
            search.device_id,
            search.runtime_config_id,
            {"backend": search.runtime_config.backend, "settings": search.runtime_config.settings},
            search.config,
            search.checkpoint_path,
        )
        return stored, token


def _commit_segment(
    context: WorkerContext,
    run: SearchRun,
    search_id: str,
    claim_token: str,
    segment: int,
    checkpoint: Path,
    events: Sequence[dict[str, float]],
    finish_next: bool,
) -> bool:
    """Progress, checkpoint path and events in one owner-checked transaction; the claim is
    released unless this worker finishes the search next. False (nothing more to do) when
    the claim was lost (nothing written) or the search was canceled meanwhile."""
    with session_scope(context.sessions) as session:
        search = search_repo.claimed_search(
            session=session, search_id=search_id, claim_token=claim_token
        )
        if search is None:
            log.warning("search %s segment %d: claim lost, not committed", search_id, segment)
            return False
        latest = events[-1] if events else {}
        progress = {
            "segment": segment + 1,
            "step": run.step_index,
            "steps": run.spec.steps,
            **{k: v for k, v in latest.items() if k != "step"},
            "oracle": run.oracle.stats.to_dict(),
            "worker_device": describe_device(run.device),
        }
        search_repo.update_search_progress(
            session=session, search=search, progress=progress, checkpoint_path=str(checkpoint)
        )
        for metrics in events:
            search_repo.add_search_event(
                session=session,
                search=search,
                step=int(metrics["step"]),
                kind="step",
                payload=metrics,
            )
        if search.cancel_requested:
            search_repo.transition_search(
                session=session, search=search, state=SearchState.CANCELED
            )
            return False
        if not finish_next:
            search_repo.release_claim(session=session, search=search)
        return True


def _store_result(
    context: WorkerContext,
    search_id: str,
    claim_token: str,
    run: SearchRun,
    heartbeat: SegmentHeartbeat,
) -> None:
    finished = finish_search(run, context.store, heartbeat.check)
    with session_scope(context.sessions) as session:
        search = search_repo.claimed_search(
            session=session, search_id=search_id, claim_token=claim_token
        )
        if search is None:
            raise ClaimLost(f"search {search_id}: claim lost before the result was stored")
        if search.cancel_requested:
            search_repo.transition_search(
                session=session, search=search, state=SearchState.CANCELED
            )
            return
        for artifact in finished.artifacts:
            register_exported(session, artifact)
        search_repo.add_search_event(
            session=session,
            search=search,
            step=run.step_index,
            kind="finished",
            payload=finished.result,
        )
        search_repo.transition_search(
            session=session, search=search, state=SearchState.SUCCEEDED, result=finished.result
        )


def _end(
    context: WorkerContext,
    search_id: str,
    claim_token: str,
    state: SearchState,
    error: str | None = None,
) -> None:
    """End the search (failed, canceled) if this worker still owns it; else write nothing."""
    with session_scope(context.sessions) as session:
        search = search_repo.claimed_search(
            session=session, search_id=search_id, claim_token=claim_token
        )
        if search is not None:
            search_repo.transition_search(session=session, search=search, state=state, error=error)


def _run_claimed(
    context: WorkerContext,
    stored: StoredSearch,
    claim_token: str,
    segment: int,
    heartbeat: SegmentHeartbeat,
    enqueue_next: Callable[[str, int], None],
) -> None:
    def export_now(job_ids: Sequence[str]) -> None:
        """Exports run inline: no other worker needs to be free for a search to measure."""
        for job_id in job_ids:
            export_one(context, job_id)

    run = build_run(stored, context, export_now)
    if stored.checkpoint_path:
        run.load_state_dict(CheckpointStore.load(Path(stored.checkpoint_path)))
    every = max(1, run.spec.steps // MAX_EVENTS_PER_SEARCH)
    events: list[dict[str, float]] = []
    for _ in range(run.spec.segment_steps):
        if run.done or heartbeat.interrupted or STOP_ASKED.is_set():
            break
        metrics = run.step()
        if int(metrics["step"]) % every == 0 or run.done:
            events.append(metrics)
    if heartbeat.lost:
        raise ClaimLost(f"search {stored.id}: claim lost during segment {segment}")
    checkpoint = CheckpointStore(context.settings.checkpoint_dir).save(
        stored.id, run.step_index, run.state_dict()
    )
    stopping = STOP_ASKED.is_set()
    finish_next = run.done and not stopping
    if not _commit_segment(
        context, run, stored.id, claim_token, segment, checkpoint, events, finish_next
    ):
        return
    if finish_next:
        _store_result(context, stored.id, claim_token, run, heartbeat)
        return
    if stopping:
        log.info(
            "search %s segment %d: this worker is stopping; committed at step %d, the rest "
            "sent on as segment %d",
            stored.id,
            segment,
            run.step_index,
            segment + 1,
        )
    enqueue_next(stored.id, segment + 1)


def run_segment(
    context: WorkerContext,
    search_id: str,
    segment: int,
    enqueue_next: Callable[[str, int], None],
) -> None:
    claim = _claim(context, search_id, segment)
    if claim is None:
        return
    stored, token = claim
    interval_s = min(HEARTBEAT_S, context.settings.search_stale_seconds / 4)
    with SegmentHeartbeat(context.sessions, search_id, token, interval_s) as heartbeat:
        try:
            _run_claimed(context, stored, token, segment, heartbeat, enqueue_next)
        except ClaimLost as lost:
            log.warning("%s: stopped without writing", lost)
        except SearchCanceled:
            _end(context, search_id, token, SearchState.CANCELED)
        except Exception as err:  # the search fails with the reason; its checkpoint stays
            log.exception("search %s failed in segment %d", search_id, segment)
            _end(context, search_id, token, SearchState.FAILED, f"{type(err).__name__}: {err}")


def send_next_segment(app: Celery, search_id: str, segment: int) -> None:
    """Send the next segment's task. A refusing broker fails nothing: the search stays
    RUNNING with its progress committed, its heartbeat goes stale, and the API's sweeper
    resumes it and re-sends the segment (``services.reconcile``)."""
    try:
        app.send_task(TASK_SEARCH_SEGMENT, args=[search_id, segment], queue=QUEUE_SEARCH)
    except OperationalError as err:
        log.warning("search %s segment %d left for the API to resume: %s", search_id, segment, err)


@shared_task(bind=True, name=TASK_SEARCH_SEGMENT, acks_late=True)
def search_segment(self: Task, search_id: str, segment: int) -> None:
    """One segment of a search (ids only; idempotent through the segment claim)."""
    context = worker_context(self.app.conf.hwnas_settings)
    run_segment(context, search_id, segment, partial(send_next_segment, self.app))
