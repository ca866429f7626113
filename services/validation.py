"""Turning user input into domain objects, with 422 errors that name the field."""

from __future__ import annotations

from latency_db.spaces import Architecture, SearchSpace, resolve_space, space_from_ref
from services.errors import ApiError


def invalid(field: str, problem: str) -> ApiError:
    return ApiError(422, "invalid", f"{field}: {problem}", [{"field": field, "problem": problem}])


def resolve_space_ref(ref: str | None, field: str = "space_ref") -> SearchSpace:
    if not ref:
        raise invalid(field, "a space instance is required, e.g. proxyless-r224-w1-c1000")
    try:
        return space_from_ref(ref)
    except ValueError as err:
        raise invalid(field, str(err)) from None


def build_space(
    name: str, resolution: int | None, width_mult: float | None, num_classes: int | None
) -> SearchSpace:
    """A family name with options, or a full space ref the options agree with."""
    try:
        return resolve_space(name, resolution, width_mult, num_classes)
    except ValueError as err:
        raise invalid("space", str(err)) from None


def parse_architecture(
    space: SearchSpace, text: str | None, field: str = "architecture"
) -> Architecture:
    if not text:
        raise invalid(field, "an architecture string is required")
    try:
        return space.parse(text)
    except ValueError as err:
        raise invalid(field, str(err)) from None
