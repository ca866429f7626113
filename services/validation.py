"""Turning user input into domain objects, with 422 errors that name the field."""

from __future__ import annotations

import re
from typing import Any

from latency_db.spaces import Architecture, SearchSpace, resolve_space, space_from_ref
from services.errors import ApiError
from services.schemas.common import RuntimeIn

# The ``options`` a job may set per backend, with the pattern of their values; every other
# option (the Android tool binaries, the serial) is the agent host's own configuration.
JOB_OPTIONS: dict[str, dict[str, re.Pattern[str]]] = {
    "android-adb": {"inprocess_warmup": re.compile(r"^[0-9]{1,4}$")},
}


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


def runtime_settings(runtime: RuntimeIn) -> dict[str, Any]:
    """The settings as sent (what a runtime configuration is keyed by), once every option is
    one the backend lets a job set; 422 naming the option otherwise."""
    allowed = JOB_OPTIONS.get(runtime.backend, {})
    for name, value in runtime.settings.options.items():
        field = f"runtime.settings.options.{name}"
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise invalid(field, f"not an option a job sets on {runtime.backend} (known: {known})")
        if not allowed[name].match(value):
            raise invalid(field, f"{value!r} does not match {allowed[name].pattern}")
    return runtime.settings.model_dump(exclude_unset=True)
