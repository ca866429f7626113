"""Users (an admin creates them) and API tokens (each user lists, issues, revokes their own).
Tokens are stored hashed; the plaintext is in the one response that issues it."""

from __future__ import annotations

from fastapi import APIRouter

from latency_db.models import ApiToken, User
from latency_db.repositories import users as user_repo
from services.deps import CurrentAdmin, CurrentUser, SessionDep
from services.schemas.users import IssuedToken, TokenCreate, TokenOut, UserCreate, UserOut

router = APIRouter(tags=["users"])


def issued(user: User, row: ApiToken, plaintext: str) -> IssuedToken:
    return IssuedToken(
        token=plaintext, details=TokenOut.model_validate(row), user=UserOut.model_validate(user)
    )


@router.post("/users", status_code=201, response_model=IssuedToken)
def create_user(body: UserCreate, session: SessionDep, _: CurrentAdmin) -> IssuedToken:
    """A new user and their first API token (admins only)."""
    user = user_repo.create_user(session=session, name=body.name, is_admin=body.is_admin)
    row, plaintext = user_repo.issue_api_token(session=session, user=user, label="first")
    session.commit()
    return issued(user, row, plaintext)


@router.get("/users/me", response_model=UserOut)
def who_am_i(user: CurrentUser) -> UserOut:
    """The user the token belongs to."""
    return UserOut.model_validate(user)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(session: SessionDep, user: CurrentUser) -> list[TokenOut]:
    """Your API tokens (never their plaintext)."""
    rows = user_repo.list_api_tokens(session=session, user=user)
    return [TokenOut.model_validate(t) for t in rows]


@router.post("/tokens", status_code=201, response_model=IssuedToken)
def issue_token(body: TokenCreate, session: SessionDep, user: CurrentUser) -> IssuedToken:
    """A new API token for yourself; the plaintext is in this answer only."""
    row, plaintext = user_repo.issue_api_token(session=session, user=user, label=body.label)
    session.commit()
    return issued(user, row, plaintext)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, session: SessionDep, user: CurrentUser) -> TokenOut:
    """Revoke one of your tokens (idempotent); another user's is not found."""
    row = user_repo.revoke_api_token(session=session, user=user, token_id=token_id)
    session.commit()
    return TokenOut.model_validate(row)
