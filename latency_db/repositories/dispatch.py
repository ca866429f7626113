"""The broker-dispatch record of queued work: ``enqueued_at`` says when the task a row waits
for (an export, a search segment, a predictor fit) was last sent to the broker.

The database is the source of truth (design section 8.8): a broker restart, a FLUSHDB or an
outage at submit loses messages, never rows. The API's reconciler finds rows still waiting
whose message was never sent (NULL) or was sent longer ago than a grace window, and sends it
again; the tasks are idempotent, so a message that was not lost after all does nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from latency_db.db import db_now
from latency_db.models import FitState, JobState, PredictorFit, ProfilingJob, Search
from latency_db.repositories.searches import UNCLAIMED

Dispatchable = ProfilingJob | Search | PredictorFit


def mark_enqueued(*, session: Session, work: Sequence[Dispatchable], sent: bool) -> None:
    """Stamp the rows as sent now, or (``sent=False``: the broker refused) as never sent.

    By id, so rows read in an earlier transaction (the reconciler's) can be stamped too.
    """
    if not work:
        return
    at = db_now(session) if sent else None
    for model in (ProfilingJob, Search, PredictorFit):
        ids = [row.id for row in work if isinstance(row, model)]
        if ids:
            session.execute(update(model).where(model.id.in_(ids)).values(enqueued_at=at))
    session.flush()


def _unsent(
    column: InstrumentedAttribute[datetime | None], sent_before: datetime
) -> ColumnElement[bool]:
    return or_(column.is_(None), column < sent_before)


def jobs_awaiting_export(
    *, session: Session, sent_before: datetime, limit: int
) -> list[ProfilingJob]:
    """QUEUED jobs without an artifact whose export task was never sent or not since
    ``sent_before``, oldest first."""
    stmt = (
        select(ProfilingJob)
        .where(
            ProfilingJob.state == JobState.QUEUED,
            ProfilingJob.artifact_sha256.is_(None),
            _unsent(ProfilingJob.enqueued_at, sent_before),
        )
        .order_by(ProfilingJob.created_at, ProfilingJob.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def searches_awaiting_claim(*, session: Session, sent_before: datetime, limit: int) -> list[Search]:
    """PENDING or RESUMING searches (no worker holds them) whose segment task was never sent
    or not since ``sent_before``, oldest first."""
    stmt = (
        select(Search)
        .where(Search.state.in_(UNCLAIMED), _unsent(Search.enqueued_at, sent_before))
        .order_by(Search.created_at, Search.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def fits_awaiting_worker(
    *, session: Session, sent_before: datetime, limit: int
) -> list[PredictorFit]:
    """QUEUED predictor fits whose task was never sent or not since ``sent_before``. (A fit
    runs in one transaction, so a worker that dies mid-fit leaves it QUEUED.)"""
    stmt = (
        select(PredictorFit)
        .where(
            PredictorFit.state == FitState.QUEUED,
            _unsent(PredictorFit.enqueued_at, sent_before),
        )
        .order_by(PredictorFit.created_at, PredictorFit.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
