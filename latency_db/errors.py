"""Domain errors raised by ``latency_db``; ``services.errors`` maps them to HTTP answers.

Each carries a machine-readable ``code`` (the ``code`` field of the JSON error body).
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a message for people and a ``code`` for programs."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class NotFound(DomainError):
    default_code = "not_found"


class Unauthenticated(DomainError):
    """A credential (token, enrollment token) that is unknown, spent or expired."""

    default_code = "unauthorized"


class PermissionDenied(DomainError):
    default_code = "forbidden"


class Conflict(DomainError):
    default_code = "conflict"


class StaleLeaseError(Conflict):
    """A lease that is no longer live (expired, superseded, finished) was used."""

    default_code = "stale_lease"


class ValidationError(DomainError):
    default_code = "invalid"
