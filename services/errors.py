"""One JSON error shape for every failure: ``{"code", "message", "details"}``.

Domain errors raised by ``latency_db`` map to 4xx here; request validation errors become 422
naming each offending field. Nothing a client sends may produce a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from latency_db import errors as domain

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers with as it is."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


_DOMAIN_STATUS: list[tuple[type[Exception], int, str]] = [
    (domain.StaleLeaseError, 409, "stale_lease"),
    (domain.NotFound, 404, "not_found"),
    (domain.Unauthenticated, 401, "unauthorized"),
    (domain.PermissionDenied, 403, "forbidden"),
    (domain.Conflict, 409, "conflict"),
    (domain.ValidationError, 422, "invalid"),
]


def request_invalid(errors: Iterable[Mapping[str, Any]]) -> ApiError:
    """The 422 for what pydantic refused: each field (its location less ``body``) and why."""
    fields = [
        {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "problem": e["msg"]}
        for e in errors
    ]
    problems = "; ".join(f"{f['field']}: {f['problem']}" for f in fields)
    return ApiError(422, "invalid", f"invalid request: {problems}", fields)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def _json(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(code, message, details))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, err: ApiError) -> JSONResponse:
        return _json(err.status, err.code, err.message, err.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, err: RequestValidationError) -> JSONResponse:
        invalid = request_invalid(err.errors())
        return _json(invalid.status, invalid.code, invalid.message, invalid.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        return _json(err.status_code, code.get(err.status_code, "http_error"), str(err.detail))

    @app.exception_handler(OperationalError)
    async def _database_unavailable(_: Request, err: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", err.orig)
        return _json(503, "database_unavailable", "the database is busy or away; retry")

    for cls, status, code in _DOMAIN_STATUS:
        app.add_exception_handler(cls, _domain_handler(status, code))


def _domain_handler(status: int, code: str) -> Any:
    async def handler(_: Request, err: Exception) -> JSONResponse:
        return _json(status, getattr(err, "code", None) or code, str(err))

    return handler
