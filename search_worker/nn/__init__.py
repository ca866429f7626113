"""PyTorch realization of the search spaces: blocks, standalone networks and the supernet."""

from __future__ import annotations

from search_worker.nn.blocks import build_block, init_weights, zero_residual_gamma
from search_worker.nn.network import Network, SpaceModule
from search_worker.nn.supernet import MixedOp, PathSelection, Supernet

__all__ = [
    "MixedOp",
    "Network",
    "PathSelection",
    "SpaceModule",
    "Supernet",
    "build_block",
    "init_weights",
    "zero_residual_gamma",
]
