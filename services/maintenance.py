"""Housekeeping the API process runs in the background, on the database clock.

Expired leases go back to the queue (or fail after ``max_attempts``) and silent agents go
STALE, then OFFLINE, even when no agent is claiming work. A running search whose worker has
gone silent (killed, machine lost) is marked RESUMING: another worker continues it from the
last checkpoint. Then work whose broker message may be lost is sent again
(``services.reconcile``), the resumed searches among it.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from latency_db.db import session_scope
from latency_db.repositories import agents as agent_repo
from latency_db.repositories import dispatch as dispatch_repo
from latency_db.repositories import leases as lease_repo
from latency_db.repositories import searches as search_repo
from latency_db.settings import Settings
from services.reconcile import redispatch
from services.task_queue import TaskQueue

log = logging.getLogger(__name__)


def resume_stale_searches(session: Session, settings: Settings) -> list[str]:
    """Mark silent running searches RESUMING, their segment task not yet sent (the
    reconciler sends it after the commit); the ids of those resumed."""
    stale_after = settings.search_stale_seconds
    stale = search_repo.stale_searches(session=session, stale_after_seconds=stale_after)
    for search in stale:
        search_repo.resume_search(session=session, search=search, stale_after_seconds=stale_after)
        log.warning("search %s: worker silent, resuming from its last checkpoint", search.id)
    dispatch_repo.mark_enqueued(session=session, work=stale, sent=False)
    return [search.id for search in stale]


def sweep(session: Session, settings: Settings) -> None:
    """One pass: expire leases, age agent states, resume silent searches."""
    expired = lease_repo.expire_leases(session=session)
    if expired:
        log.info("expired the leases of %d job(s)", len(expired))
    agent_repo.mark_stale_and_offline(
        session=session,
        stale_after_seconds=settings.agent_stale_seconds,
        offline_after_seconds=settings.agent_offline_seconds,
    )
    resume_stale_searches(session, settings)


class Sweeper:
    """A daemon thread calling :func:`sweep`, then :func:`redispatch`, every ``interval_s``
    until stopped."""

    def __init__(
        self, factory: sessionmaker[Session], settings: Settings, tasks: TaskQueue
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._tasks = tasks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hwnas-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        interval_s = max(1.0, self._settings.heartbeat_seconds / 2)
        while not self._stop.wait(interval_s):
            try:
                with session_scope(self._factory) as session:
                    sweep(session, self._settings)
                redispatch(self._factory, self._settings, self._tasks)
            except Exception:  # keep sweeping after a transient database error
                log.exception("maintenance sweep failed")
