"""Run predictor fit requests. Idempotent: a finished fit is not fitted again, and the new
version and the fit's end commit in one transaction."""

from __future__ import annotations

from celery import Task, shared_task

from latency_db.broker import TASK_FIT_PREDICTOR
from latency_db.db import session_scope
from latency_db.predictors.versions import run_fit
from latency_db.repositories import predictors as predictor_repo
from search_worker.context import worker_context


@shared_task(bind=True, name=TASK_FIT_PREDICTOR, acks_late=True)
def fit_predictor(self: Task, fit_id: str) -> None:
    """Fit the version a ``PredictorFit`` asks for (numpy, seconds)."""
    context = worker_context(self.app.conf.hwnas_settings)
    with context.host_lock.worker_turn(), session_scope(context.sessions) as session:
        run_fit(session=session, fit=predictor_repo.get_fit(session=session, fit_id=fit_id))
