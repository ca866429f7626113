"""Run a search as checkpointed segments (design section 9).

``hwnas.search.segment(search_id, segment)`` claims the segment (a stale or redelivered copy
does nothing), rebuilds the run from the last checkpoint, runs ``segment_steps`` steps with a
heartbeat, writes the checkpoint, commits progress and events, and only then enqueues the
next segment (a broker that refuses leaves it to the API's sweeper); the last one finishes
the search. A killed worker's search is marked RESUMING by
the API's sweeper and continues on another worker from its last checkpoint. Cancel is seen at
each segment boundary.
"""

from __future__ import annotations

import logging
import time
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
from search_worker.search.assembly import StoredSearch, build_run
from search_worker.search.checkpoints import CheckpointStore
from search_worker.search.finish import finish_search
from search_worker.search.run import SearchRun
from search_worker.tasks.export_tasks import export_one, register_exported

log = logging.getLogger(__name__)
HEARTBEAT_S = 10.0  # at most; a quarter of the stale window when that is shorter
MAX_EVENTS_PER_SEARCH = 500


def _claim(context: WorkerContext, search_id: str, segment: int) -> StoredSearch | None:
    with session_scope(context.sessions) as session:
        search = search_repo.get_search(session=session, search_id=search_id)
        if search.cancel_requested and search.state not in search_repo.TERMINAL:
            search_repo.transition_search(
                session=session, search=search, state=SearchState.CANCELED
            )
            return None
        stale = context.settings.search_stale_seconds
        if not search_repo.claim_segment(
            session=session, search=search, segment=segment, stale_after_seconds=stale
        ):
            log.info("search %s segment %d: not this worker's to run", search_id, segment)
            return None
        return StoredSearch(
            search.id,
            search.estimator,
            search.budget_ms,
            search.device_id,
            search.runtime_config_id,
            {"backend": search.runtime_config.backend, "settings": search.runtime_config.settings},
            search.config,
            search.checkpoint_path,
        )


def _heartbeat(context: WorkerContext, search_id: str) -> Callable[[], None]:
    """A callable that refreshes the search's heartbeat when it is due."""
    interval = min(HEARTBEAT_S, context.settings.search_stale_seconds / 4)
    last = [time.monotonic()]

    def beat() -> None:
        if time.monotonic() - last[0] >= interval:
            with session_scope(context.sessions) as session:
                search_repo.touch_search(
                    session=session,
                    search=search_repo.get_search(session=session, search_id=search_id),
                )
            last[0] = time.monotonic()

    return beat


def _commit_segment(
    context: WorkerContext,
    run: SearchRun,
    search_id: str,
    segment: int,
    checkpoint: Path,
    events: Sequence[dict[str, float]],
) -> bool:
    """Progress, checkpoint path and events in one transaction; False if canceled meanwhile."""
    with session_scope(context.sessions) as session:
        search = search_repo.get_search(session=session, search_id=search_id)
        latest = events[-1] if events else {}
        progress = {
            "segment": segment + 1,
            "claimed": segment,
            "step": run.step_index,
            "steps": run.spec.steps,
            **{k: v for k, v in latest.items() if k != "step"},
            "oracle": run.oracle.stats.to_dict(),
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
        return True


def _store_result(context: WorkerContext, search_id: str, run: SearchRun) -> None:
    finished = finish_search(run, context.store, _heartbeat(context, search_id))
    with session_scope(context.sessions) as session:
        for artifact in finished.artifacts:
            register_exported(session, artifact)
        search = search_repo.get_search(session=session, search_id=search_id)
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


def run_segment(
    context: WorkerContext,
    search_id: str,
    segment: int,
    enqueue_next: Callable[[str, int], None],
) -> None:
    stored = _claim(context, search_id, segment)
    if stored is None:
        return
    try:

        def export_now(job_ids: Sequence[str]) -> None:
            """Exports run inline: no other worker needs to be free for a search to measure."""
            for job_id in job_ids:
                export_one(context, job_id)

        run = build_run(stored, context, export_now)
        if stored.checkpoint_path:
            run.load_state_dict(CheckpointStore.load(Path(stored.checkpoint_path)))
        beat = _heartbeat(context, search_id)
        every = max(1, run.spec.steps // MAX_EVENTS_PER_SEARCH)
        events: list[dict[str, float]] = []
        for _ in range(run.spec.segment_steps):
            if run.done:
                break
            metrics = run.step()
            if int(metrics["step"]) % every == 0 or run.done:
                events.append(metrics)
            beat()
        checkpoint = CheckpointStore(context.settings.checkpoint_dir).save(
            search_id, run.step_index, run.state_dict()
        )
        if not _commit_segment(context, run, search_id, segment, checkpoint, events):
            return
        if run.done:
            _store_result(context, search_id, run)
        else:
            enqueue_next(search_id, segment + 1)
    except Exception as err:  # the search fails with the reason; its checkpoint stays for resume
        log.exception("search %s failed in segment %d", search_id, segment)
        with session_scope(context.sessions) as session:
            search = search_repo.get_search(session=session, search_id=search_id)
            if search.state not in search_repo.TERMINAL:
                search_repo.transition_search(
                    session=session,
                    search=search,
                    state=SearchState.FAILED,
                    error=f"{type(err).__name__}: {err}",
                )


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
