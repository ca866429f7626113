"""The ``admin`` user: on first start with the API token ``HWNAS_ADMIN_TOKEN``, and as the
user the CLI acts as on the local database (where there is no login)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from latency_db.errors import NotFound
from latency_db.models import User
from latency_db.repositories import users as user_repo

ADMIN_NAME = "admin"


def admin_user(session: Session) -> User:
    """The user named ``admin``, created as an admin (with no token) when missing."""
    try:
        return user_repo.get_user_by_name(session=session, name=ADMIN_NAME)
    except NotFound:
        return user_repo.create_user(session=session, name=ADMIN_NAME, is_admin=True)


def ensure_admin(session: Session, token: str) -> None:
    """Create the admin user and register ``token`` for it, unless that is done already."""
    if user_repo.authenticate_token(session=session, token=token) is not None:
        return
    user_repo.register_api_token(
        session=session, user=admin_user(session), token=token, label="bootstrap"
    )
