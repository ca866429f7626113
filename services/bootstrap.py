"""First start: an ``admin`` user whose API token is ``HWNAS_ADMIN_TOKEN``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from latency_db.errors import NotFound
from latency_db.repositories import users as user_repo

ADMIN_NAME = "admin"


def ensure_admin(session: Session, token: str) -> None:
    """Create the admin user and register ``token`` for it, unless that is done already."""
    if user_repo.authenticate_token(session=session, token=token) is not None:
        return
    try:
        admin = user_repo.get_user_by_name(session=session, name=ADMIN_NAME)
    except NotFound:
        admin = user_repo.create_user(session=session, name=ADMIN_NAME, is_admin=True)
    user_repo.register_api_token(session=session, user=admin, token=token, label="bootstrap")
