"""Enqueue worker tasks by name (``send_task``): the API never imports the worker.

A send never hangs a request and never fails it: connecting is bounded (a short retry policy
and socket timeouts), a refusing broker is logged and answered ``False``, and the row keeps
``enqueued_at`` NULL so the API's reconciler (``services.reconcile``) sends it once the
broker is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError
from sqlalchemy.orm import Session

from latency_db.broker import (
    QUEUE_EXPORT,
    QUEUE_SEARCH,
    TASK_EXPORT_JOBS,
    TASK_FIT_PREDICTOR,
    TASK_SEARCH_SEGMENT,
    celery_config,
)
from latency_db.models import PredictorFit, ProfilingJob, Search
from latency_db.repositories import dispatch as dispatch_repo
from latency_db.repositories.dispatch import Dispatchable
from latency_db.settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2.0
# One immediate retry on a fresh connection (a pooled one may predate a broker restart).
SEND_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}


def producer_config(settings: Settings) -> dict[str, Any]:
    """The shared Celery configuration with the producer's bounded connect and socket times."""
    config = celery_config(settings)
    config["broker_connection_timeout"] = CONNECT_TIMEOUT_S
    if str(config["broker_url"]).startswith(("redis://", "rediss://")):
        config["broker_transport_options"] = {
            **config["broker_transport_options"],
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "socket_timeout": CONNECT_TIMEOUT_S,
        }
    return config


class TaskQueue:
    """A producer-only Celery app on the configured (or embedded) broker."""

    def __init__(self, settings: Settings) -> None:
        self._celery = Celery("hwnas-api")
        self._celery.conf.update(producer_config(settings))

    def dispatch(self, work: Iterable[Dispatchable]) -> bool:
        """Send the task each committed row waits for: one export of the jobs, a
        segment per search (its next one), a fit per fit request. False when the broker
        refused (logged); some messages may have gone out, and duplicates are harmless."""
        rows = list(work)
        jobs = [row.id for row in rows if isinstance(row, ProfilingJob)]
        try:
            if jobs:
                self._send(TASK_EXPORT_JOBS, [jobs], QUEUE_EXPORT)
            for row in rows:
                if isinstance(row, Search):
                    segment = int(row.progress.get("segment", 0))
                    self._send(TASK_SEARCH_SEGMENT, [row.id, segment], QUEUE_SEARCH)
                elif isinstance(row, PredictorFit):
                    self._send(TASK_FIT_PREDICTOR, [row.id], QUEUE_SEARCH)
        except OperationalError as err:
            log.warning("broker refused %d task(s), left for the reconciler: %s", len(rows), err)
            return False
        return True

    def _send(self, name: str, args: list[Any], queue: str) -> None:
        self._celery.send_task(
            name, args=args, queue=queue, retry=True, retry_policy=SEND_RETRY_POLICY
        )

    def broker_problem(self, timeout_s: float = 2.0) -> str | None:
        """None when the broker accepts a connection, else what went wrong."""
        try:
            with self._celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout_s)
        except Exception as err:  # any failure to connect is the answer, not an error
            return f"{type(err).__name__}: {err}"
        return None


def commit_and_dispatch(session: Session, tasks: TaskQueue, work: Sequence[Dispatchable]) -> bool:
    """Stamp ``work`` as sent, commit, then send its tasks (a worker never sees a row that is
    not stored). When the broker refuses, the stamps are cleared and committed: the rows wait
    for the reconciler, and the caller answers as usual. Whether the messages went out."""
    dispatch_repo.mark_enqueued(session=session, work=work, sent=True)
    session.commit()
    if not work or tasks.dispatch(work):
        return True
    dispatch_repo.mark_enqueued(session=session, work=work, sent=False)
    session.commit()
    return False
