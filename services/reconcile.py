"""Re-send the broker messages of queued work that a broker loss dropped (design section 8.8).

Rows are the truth, messages are hints: an export, a search segment or a predictor fit
still waiting whose task was never sent (``enqueued_at`` NULL: the broker was down at submit,
or the sweeper has just resumed a search) or was sent longer than ``redispatch_seconds`` ago
(a FLUSHDB, a broker restart without persistence) is sent again, and stamped, so each row is
sent at most once per window. The read and the stamp are two short transactions with the
send between them: a slow broker never holds the database.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from latency_db.db import db_now, session_scope
from latency_db.repositories import dispatch as dispatch_repo
from latency_db.repositories.dispatch import Dispatchable
from latency_db.settings import Settings
from services.task_queue import TaskQueue

log = logging.getLogger(__name__)

BATCH = 200  # rows of each kind per pass; the rest follow on the next passes


def awaiting_dispatch(session: Session, settings: Settings) -> list[Dispatchable]:
    """Jobs to export, searches to claim and fits to run whose message may be lost."""
    sent_before = db_now(session) - timedelta(seconds=settings.redispatch_seconds)
    queries = (
        dispatch_repo.jobs_awaiting_export,
        dispatch_repo.searches_awaiting_claim,
        dispatch_repo.fits_awaiting_worker,
    )
    return [
        row
        for query in queries
        for row in query(session=session, sent_before=sent_before, limit=BATCH)
    ]


def redispatch(factory: sessionmaker[Session], settings: Settings, tasks: TaskQueue) -> int:
    """One pass: send what waits and stamp it; how many rows were sent (0 while the broker
    refuses: they stay as they are for the next pass)."""
    with session_scope(factory) as session:
        work = awaiting_dispatch(session, settings)
    if not work or not tasks.dispatch(work):
        return 0
    with session_scope(factory) as session:
        dispatch_repo.mark_enqueued(session=session, work=work, sent=True)
    log.info("re-sent the tasks of %d waiting row(s)", len(work))
    return len(work)
