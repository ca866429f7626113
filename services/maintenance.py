"""Housekeeping the API process runs in the background, on the database clock.

Expired leases go back to the queue (or fail after ``max_attempts``) and silent agents go
STALE, then OFFLINE, even when no agent is claiming work. A running search whose worker has
gone silent (killed, machine lost) is marked RESUMING and its segment queued again: another
worker continues it from the last checkpoint.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from latency_db.db import session_scope
from latency_db.repositories import agents as agent_repo
from latency_db.repositories import leases as lease_repo
from latency_db.repositories import searches as search_repo
from latency_db.settings import Settings
from services.task_queue import TaskQueue

log = logging.getLogger(__name__)


def resume_stale_searches(session: Session, settings: Settings) -> list[tuple[str, int]]:
    """Mark silent running searches RESUMING; returns (search id, segment) to enqueue after
    the commit."""
    resumed = []
    stale = settings.search_stale_seconds
    for search in search_repo.stale_searches(session=session, stale_after_seconds=stale):
        search_repo.resume_search(session=session, search=search, stale_after_seconds=stale)
        resumed.append((search.id, int(search.progress.get("segment", 0))))
        log.warning("search %s: worker silent, resuming from its last checkpoint", search.id)
    return resumed


def sweep(session: Session, settings: Settings) -> None:
    """One pass: expire leases, then age agent states."""
    expired = lease_repo.expire_leases(session=session)
    if expired:
        log.info("expired the leases of %d job(s)", len(expired))
    agent_repo.mark_stale_and_offline(
        session=session,
        stale_after_seconds=settings.agent_stale_seconds,
        offline_after_seconds=settings.agent_offline_seconds,
    )


class Sweeper:
    """A daemon thread calling :func:`sweep` every ``interval_s`` until stopped."""

    def __init__(
        self, factory: sessionmaker[Session], settings: Settings, tasks: TaskQueue | None = None
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
                    resumed = resume_stale_searches(session, self._settings) if self._tasks else []
                for search_id, segment in resumed:
                    self._tasks.search_segment(search_id, segment)  # type: ignore[union-attr]
            except Exception:  # keep sweeping after a transient database error
                log.exception("maintenance sweep failed")
