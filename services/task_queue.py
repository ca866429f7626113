"""Enqueue worker tasks by name (``send_task``): the API never imports the worker."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from latency_db.broker import QUEUE_EXPORT, TASK_EXPORT_JOBS, celery_config
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
