"""Users and API tokens: hashed at rest, shown once, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from latency_db.errors import Conflict, NotFound, ValidationError
from latency_db.models import ApiToken
from latency_db.repositories import users
from latency_db.security import hash_token


def test_token_plaintext_is_never_stored(session: Session) -> None:
    alice = users.create_user(session=session, name="alice", is_admin=True)
    row, plaintext = users.issue_api_token(session=session, user=alice, label="laptop")
    stored = session.scalars(select(ApiToken)).one()
    assert stored.token_hash == hash_token(plaintext) != plaintext
    assert plaintext not in {str(v) for v in vars(stored).values()}
    assert plaintext.startswith(row.prefix) and len(row.prefix) < len(plaintext) // 2


def test_authenticate_records_use_and_revocation_ends_it(session: Session) -> None:
    bob = users.create_user(session=session, name="bob")
    row, plaintext = users.issue_api_token(session=session, user=bob)
    assert row.last_used_at is None
    assert users.authenticate_token(session=session, token=plaintext) is bob
    assert row.last_used_at is not None
    assert users.authenticate_token(session=session, token=plaintext + "x") is None
    users.revoke_api_token(session=session, user=bob, token_id=row.id)
    assert users.authenticate_token(session=session, token=plaintext) is None
    assert [t.id for t in users.list_api_tokens(session=session, user=bob)] == [row.id]


def test_users_cannot_revoke_each_others_tokens(session: Session) -> None:
    carol = users.create_user(session=session, name="carol")
    dave = users.create_user(session=session, name="dave")
    row, plaintext = users.issue_api_token(session=session, user=carol)
    with pytest.raises(NotFound):
        users.revoke_api_token(session=session, user=dave, token_id=row.id)
    assert users.authenticate_token(session=session, token=plaintext) is carol


def test_user_names_are_unique_and_checked(session: Session) -> None:
    users.create_user(session=session, name="erin")
    with pytest.raises(Conflict, match="erin"):
        users.create_user(session=session, name="erin")
    with pytest.raises(ValidationError, match="name"):
        users.create_user(session=session, name="  ")
    assert users.get_user_by_name(session=session, name="erin").name == "erin"
    with pytest.raises(NotFound):
        users.get_user(session=session, user_id="nope")
