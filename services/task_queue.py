"""Enqueue worker tasks by name (``send_task``): the API never imports the worker."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from latency_db.broker import (
    QUEUE_EXPORT,
    QUEUE_SEARCH,
    TASK_EXPORT_JOBS,
    TASK_FIT_PREDICTOR,
    TASK_SEARCH_SEGMENT,
    celery_config,
)
from latency_db.settings import Settings


class TaskQueue:
    """A producer-only Celery app on the configured (or embedded) broker."""

    def __init__(self, settings: Settings) -> None:
        self._celery = Celery("hwnas-api")
        self._celery.conf.update(celery_config(settings))

    def export_jobs(self, job_ids: Sequence[str]) -> None:
        """Ask a worker to export (and attach) the artifacts of these profiling jobs.

        Call after the transaction that created the jobs has committed.
        """
        if job_ids:
            self._celery.send_task(TASK_EXPORT_JOBS, args=[list(job_ids)], queue=QUEUE_EXPORT)

    def fit_predictor(self, fit_id: str) -> None:
        """Ask a worker to run a committed predictor fit request."""
        self._celery.send_task(TASK_FIT_PREDICTOR, args=[fit_id], queue=QUEUE_SEARCH)

    def search_segment(self, search_id: str, segment: int) -> None:
        """Ask a worker to run (or resume) one checkpointed segment of a committed search."""
        self._celery.send_task(TASK_SEARCH_SEGMENT, args=[search_id, segment], queue=QUEUE_SEARCH)

    def broker_problem(self, timeout_s: float = 2.0) -> str | None:
        """None when the broker accepts a connection, else what went wrong."""
        try:
            with self._celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout_s)
        except Exception as err:  # any failure to connect is the answer, not an error
            return f"{type(err).__name__}: {err}"
        return None
