"""Users and their API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.schemas.common import ApiModel, Out


class UserCreate(ApiModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    is_admin: bool = False


class UserOut(Out):
    id: str
    name: str
    is_admin: bool
    created_at: datetime


class TokenCreate(ApiModel):
    label: str | None = Field(None, max_length=128)


class TokenOut(Out):
    id: str
    prefix: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedToken(ApiModel):
    """A new token: ``token`` is the plaintext, shown this once (only its digest is kept)."""

    token: str
    details: TokenOut
    user: UserOut
