"""FastAPI dependencies as ``Annotated`` aliases: settings, session, the caller.

A route owns its transaction: it calls repository functions (which never commit) and
commits explicitly; a raised error rolls everything back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from latency_db.models import Agent, User
from latency_db.repositories import agents as agent_repo
from latency_db.repositories import users as user_repo
from latency_db.settings import Settings
from services.errors import ApiError
from services.long_polls import LongPollSlots
from services.task_queue import TaskQueue

_bearer = HTTPBearer(auto_error=False, description="API token (users) or agent credential")


# The dependencies below that only read the app's state or open a session are ``async``: they
# run on the event loop, where a sync one would cost a trip through the threadpool.


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. Opening one does no I/O; a session still in a transaction at
    the end (a read never committed, a raised error) is rolled back and closed in the
    threadpool, shielded so that a cancelled request still returns its connection."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.close)
        else:
            session.close()


async def get_task_queue(request: Request) -> TaskQueue:
    queue: TaskQueue = request.app.state.task_queue
    return queue


async def get_long_poll_slots(request: Request) -> LongPollSlots:
    slots: LongPollSlots = request.app.state.long_poll_slots
    return slots


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
TaskQueueDep = Annotated[TaskQueue, Depends(get_task_queue)]
LongPollSlotsDep = Annotated[LongPollSlots, Depends(get_long_poll_slots)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "missing bearer token")
    return credentials.credentials


def current_user(session: SessionDep, credentials: BearerDep) -> User:
    user = user_repo.authenticate_token(session=session, token=bearer_token(credentials))
    if user is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API token")
    session.commit()  # records last_used_at
    return user


def authenticated_agent(session: Session, credential: str) -> Agent:
    """The agent holding ``credential``, read in the caller's transaction; 401 otherwise."""
    agent = agent_repo.authenticate_agent(session=session, credential=credential)
    if agent is None:
        raise ApiError(401, "unauthorized", "unknown or disabled agent credential")
    return agent


async def agent_credential(credentials: BearerDep) -> str:
    """The bearer credential of an agent route, checked in the route's own transaction
    (``authenticated_agent``): one transaction and one trip through the threadpool per
    request. A sync dependency that read the agent would hold its connection while the
    request waits for a thread, and 50 such requests would take every pooled connection
    from the threads that need one."""
    return bearer_token(credentials)


def current_agent(session: SessionDep, credentials: BearerDep) -> Agent:
    agent = authenticated_agent(session, bearer_token(credentials))
    session.commit()  # end the read: no connection held while the route waits for a thread
    return agent


def current_admin(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "this action needs an admin token")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(current_admin)]
AgentCredential = Annotated[str, Depends(agent_credential)]
