"""Signing in to the dashboard: an API token exchanged for an HTTP-only session cookie.

The cookie holds the token itself (``HttpOnly``, ``SameSite=Strict``, path ``/ui``,
``Secure`` over HTTPS), so revoking the token signs its sessions out and nothing is stored
server side. A token is accepted only if ``GET /v1/users/me`` accepts it: an agent's
credential is not a user's token and is refused. Forms that change something carry a token
derived from the session's (an HMAC a page from another site cannot compute), checked on
every POST together with the same-site cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.ui.api import ApiRefused, UiApi
from services.ui.render import page

COOKIE = "hwnas_session"
COOKIE_PATH = "/ui"
SESSION_SECONDS = 12 * 3600
HOME = "/ui/devices"

router = APIRouter()


class SignInRequired(Exception):
    """No session cookie, or the API refused its token: the page sends the browser to the
    sign-in form (and back here after)."""


@dataclass(frozen=True)
class UiSession:
    """The signed-in user (``/v1/users/me``) and their API client."""

    api: UiApi
    me: dict[str, Any]

    @property
    def csrf(self) -> str:
        return form_token(self.api.token)

    def page(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """Template ``name`` for this user: the header shows them, forms carry the token."""
        return page(request, name, status_code, me=self.me, csrf=self.csrf, **context)


def form_token(api_token: str) -> str:
    return hmac.new(api_token.encode(), b"hwnas-ui-form", hashlib.sha256).hexdigest()


async def current_session(request: Request) -> UiSession:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired
    api = UiApi(request, token)
    try:
        me = await api.get("/users/me")
    except ApiRefused as err:
        if err.status == 401:
            raise SignInRequired from None
        raise
    return UiSession(api, me)


async def form_session(request: Request, csrf: Annotated[str, Form()] = "") -> UiSession:
    """The session of a form POST, whose ``csrf`` field must match the session's."""
    session = await current_session(request)
    if not hmac.compare_digest(csrf, session.csrf):
        raise ApiRefused(403, "forbidden", "this form is stale or not from this dashboard")
    return session


SessionDep = Annotated[UiSession, Depends(current_session)]
FormSessionDep = Annotated[UiSession, Depends(form_session)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if target and target.startswith(f"{COOKIE_PATH}/") and not target.startswith("//"):
        return target
    return HOME


def to_sign_in(request: Request) -> RedirectResponse:
    """Off to the sign-in form, coming back to this page; the dead cookie is dropped."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = here if request.method == "GET" else HOME
    response = RedirectResponse(f"{COOKIE_PATH}/login?next={quote(target)}", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("")
@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/login")
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    return page(request, "login.html", next=safe_next(next))


@router.post("/login")
async def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2048)] = HOME,
) -> Response:
    """A user's API token opens a session; anything else re-shows the form with a 401."""
    token = token.strip()
    problem = "enter your API token" if not token else None
    if token:
        try:
            await UiApi(request, token).get("/users/me")
        except ApiRefused as err:
            if err.status != 401:
                raise
            problem = "this is not a valid user API token (agent credentials cannot sign in)"
    if problem:
        return page(request, "login.html", status_code=401, next=safe_next(next), error=problem)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def sign_out(_: FormSessionDep) -> RedirectResponse:
    response = RedirectResponse(f"{COOKIE_PATH}/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
