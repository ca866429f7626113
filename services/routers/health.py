"""Liveness of the API and its database."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from services.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep) -> dict[str, str]:
    """``ok`` when the database answers a query."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "database": session.get_bind().dialect.name}
