"""Registry of search-space families: ``@register_space`` and lookup by name or ref."""

from __future__ import annotations

import re
from collections.abc import Callable

from latency_db.spaces.space import SearchSpace, SpaceDefinition

_DEFINITIONS: dict[str, SpaceDefinition] = {}
_REF = re.compile(
    r"^(?P<name>[a-z0-9_]+(?:-[a-z][a-z0-9_]*)*)-r(?P<res>\d+)-w(?P<w>[0-9.]+)-c(?P<c>\d+)$"
)


def register_space(factory: Callable[[], SpaceDefinition]) -> Callable[[], SpaceDefinition]:
    """Register the definition a factory returns under its name."""
    definition = factory()
    if definition.name in _DEFINITIONS:
        raise ValueError(f"space {definition.name!r} registered twice")
    _DEFINITIONS[definition.name] = definition
    return factory


def space_names() -> list[str]:
    return sorted(_DEFINITIONS)


def get_definition(name: str) -> SpaceDefinition:
    try:
        return _DEFINITIONS[name]
    except KeyError:
        raise ValueError(f"unknown space {name!r} (known: {', '.join(space_names())})") from None


def get_space(
    name: str,
    resolution: int | None = None,
    width_mult: float = 1.0,
    num_classes: int | None = None,
) -> SearchSpace:
    """Instantiate a registered space; resolution and classes default to the family's own."""
    d = get_definition(name)
    return SearchSpace(
        d,
        resolution=resolution if resolution is not None else d.default_resolution,
        width_mult=width_mult,
        num_classes=num_classes if num_classes is not None else d.default_classes,
    )


def space_from_ref(ref: str) -> SearchSpace:
    """Inverse of ``SearchSpace.ref``; a bare family name gives its default instance."""
    match = _REF.match(ref)
    if match is None:
        return get_space(ref)
    return get_space(match["name"], int(match["res"]), float(match["w"]), int(match["c"]))


def resolve_space(
    name_or_ref: str,
    resolution: int | None = None,
    width_mult: float | None = None,
    num_classes: int | None = None,
) -> SearchSpace:
    """A family name instantiated with the options (width defaults to 1.0), or a full ref
    such as ``proxyless-r224-w1-c1000``, which options given alongside must agree with."""
    if _REF.match(name_or_ref) is None:
        width = 1.0 if width_mult is None else width_mult
        return get_space(name_or_ref, resolution, width, num_classes)
    space = space_from_ref(name_or_ref)
    asked = {"resolution": resolution, "width_mult": width_mult, "num_classes": num_classes}
    clashes = [
        f"{name}={value:g}"
        for name, value in asked.items()
        if value is not None and value != getattr(space, name)
    ]
    if clashes:
        raise ValueError(f"space ref {space.ref} disagrees with {', '.join(clashes)}")
    return space
