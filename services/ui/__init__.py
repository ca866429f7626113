"""The web dashboard under ``/ui``: server-rendered pages with small progressive enhancement
(vendored nothing; a few hundred lines of our own JavaScript for live charts and tooltips).

Every page reads and writes through the public ``/v1`` API: :class:`services.ui.api.UiApi`
calls the same app in-process over ASGI with the signed-in user's API token, so the UI sees
exactly what a client of the API sees (same validation, same ownership rules, same errors).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from services.ui.api import ApiRefused
from services.ui.fleet_pages import router as fleet_router
from services.ui.job_pages import router as job_router
from services.ui.lut_pages import router as lut_router
from services.ui.render import page
from services.ui.search_pages import router as search_router
from services.ui.session import SignInRequired, to_sign_in
from services.ui.session import router as session_router

UI_PREFIX = "/ui"
STATIC_DIR = Path(__file__).parent / "static"


def install_ui(app: FastAPI) -> None:
    """Mount the dashboard's pages and static files on ``app`` under ``/ui``."""
    for router in (session_router, fleet_router, search_router, lut_router, job_router):
        app.include_router(router, prefix=UI_PREFIX, include_in_schema=False)
    app.mount(f"{UI_PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(ApiRefused, _refused_page)


async def _sign_in_first(request: Request, _: Exception) -> Response:
    return to_sign_in(request)


async def _refused_page(request: Request, err: Exception) -> Response:
    """What the API refused a page's call with, as a page with the API's status and message
    (the dashboard is this process's only caller that raises :class:`ApiRefused`)."""
    assert isinstance(err, ApiRefused)
    if err.status == 401:
        return to_sign_in(request)
    message = str(err).split(": ", 1)[-1]
    return page(
        request, "error.html", err.status, status=err.status, code=err.code, message=message
    )
