"""Users and API tokens. A token's plaintext is returned once; only its digest is stored."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import NotFound, ValidationError
from latency_db.models import ApiToken, User
from latency_db.repositories.common import add_or_conflict, check_name, get_or_not_found
from latency_db.security import API_TOKEN, generate_token, hash_token, token_prefix

MIN_TOKEN_CHARS = 16


def create_user(*, session: Session, name: str, is_admin: bool = False) -> User:
    name = check_name(name, "name", 64)
    user = User(name=name, is_admin=is_admin, created_at=db_now(session))
    add_or_conflict(session, user, f"user {name!r} already exists")
    return user


def get_user(*, session: Session, user_id: str) -> User:
    return get_or_not_found(session, User, user_id, "user")


def get_user_by_name(*, session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user


def issue_api_token(
    *, session: Session, user: User, label: str | None = None
) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row and the plaintext, which is shown this once."""
    plaintext = generate_token(API_TOKEN)
    return register_api_token(session=session, user=user, token=plaintext, label=label), plaintext


def register_api_token(
    *, session: Session, user: User, token: str, label: str | None = None
) -> ApiToken:
    """Store the digest of a token chosen by an operator (``HWNAS_ADMIN_TOKEN``)."""
    if len(token) < MIN_TOKEN_CHARS:
        raise ValidationError(f"an API token needs at least {MIN_TOKEN_CHARS} characters")
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(token),
        prefix=token_prefix(token),
        label=None if label is None else check_name(label, "label", 128),
        created_at=db_now(session),
    )
    add_or_conflict(session, row, "this token is registered already")
    return row


def authenticate_token(*, session: Session, token: str) -> User | None:
    """The user a live (unrevoked) token belongs to, recording its use; None otherwise."""
    row = session.scalars(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    row.last_used_at = db_now(session)
    return row.user


def list_api_tokens(*, session: Session, user: User) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    return list(session.scalars(stmt))


def revoke_api_token(*, session: Session, user: User, token_id: str) -> ApiToken:
    """Revoke one of ``user``'s tokens (idempotent); another user's token is not found."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"api token {token_id!r} not found")
    if token.revoked_at is None:
        token.revoked_at = db_now(session)
    return token
