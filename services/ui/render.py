"""Pages rendered from the package's Jinja2 templates, and the page an API refusal becomes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(value: str | None) -> str:
    """An API timestamp as ``2026-12-01 09:14:03 UTC`` (``-`` when absent)."""
    if not value:
        return "-"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


templates.env.filters["when"] = _when
templates.env.filters["number"] = _number


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Template ``name`` with ``context``; every page gets the signed-in user as ``me``
    (None on the sign-in page) and the form token as ``csrf``."""
    context.setdefault("me", None)
    context.setdefault("csrf", "")
    return templates.TemplateResponse(request, name, context, status_code=status_code)
