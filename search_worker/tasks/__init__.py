"""Celery tasks of the worker, registered under the names in ``latency_db.broker``."""

from __future__ import annotations

from search_worker.tasks import export_tasks, predictor_tasks, search_tasks

__all__ = ["export_tasks", "predictor_tasks", "search_tasks"]
