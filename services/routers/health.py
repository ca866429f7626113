"""Readiness of the API: its database and its broker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from services.deps import SessionDep, TaskQueueDep

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"description": "the database or the broker is down"}})
def health(session: SessionDep, tasks: TaskQueueDep, response: Response) -> dict[str, Any]:
    """``ok`` when the database answers a query and the broker accepts a connection; 503
    naming what failed otherwise."""
    answer: dict[str, Any] = {"database": session.get_bind().dialect.name}
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        answer["database_error"] = str(err).splitlines()[0]
    broker_problem = tasks.broker_problem()
    answer["broker"] = "ok" if broker_problem is None else broker_problem
    healthy = "database_error" not in answer and broker_problem is None
    answer["status"] = "ok" if healthy else "unavailable"
    if not healthy:
        response.status_code = 503
    return answer
