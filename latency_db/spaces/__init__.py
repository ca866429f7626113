"""Search spaces as plain data (no torch): importable by the API, the database and workers."""

from __future__ import annotations

from latency_db.spaces import definitions as _definitions  # noqa: F401  (registers the spaces)
from latency_db.spaces.blocks import (
    Block,
    ConvBlock,
    LogitsBlock,
    MBConvBlock,
    ProjectionBlock,
)
from latency_db.spaces.cost import block_params, network_params
from latency_db.spaces.ops import SKIP, ZERO, LayerShape
from latency_db.spaces.registry import (
    get_definition,
    get_space,
    register_space,
    resolve_space,
    space_from_ref,
    space_names,
)
from latency_db.spaces.space import Architecture, SearchableLayer, SearchSpace, SpaceDefinition

__all__ = [
    "SKIP",
    "ZERO",
    "Architecture",
    "Block",
    "ConvBlock",
    "LayerShape",
    "LogitsBlock",
    "MBConvBlock",
    "ProjectionBlock",
    "SearchSpace",
    "SearchableLayer",
    "SpaceDefinition",
    "block_params",
    "get_definition",
    "get_space",
    "network_params",
    "register_space",
    "resolve_space",
    "space_from_ref",
    "space_names",
]
