"""A standalone network for one architecture of a search-space instance.

Submodule names are a contract: ONNX node names carry them (``/layers.3/depthwise/conv/Conv``)
and per-node profiler times are mapped back to blocks by that scope. ``layers`` holds every
searchable position, an ``nn.Identity`` where the layer is removed (``zero``, shape-keeping
``skip``), so ``layers.<i>`` is always searchable layer ``i``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from latency_db.spaces import Block, SearchSpace
from search_worker.nn.blocks import build_block


def build_optional(block: Block | None) -> nn.Module:
    """The module of a block, or an identity where the layer is removed."""
    return nn.Identity() if block is None else build_block(block)


class SpaceModule(nn.Module):
    """The parts every network of a space shares: ``stem``, ``fixed``, ``layers``, head.

    Subclasses fill ``layers`` and run them between :meth:`stem_forward` and
    :meth:`head_forward`.
    """

    def __init__(self, space: SearchSpace, layers: Iterable[nn.Module]) -> None:
        super().__init__()
        self.space = space
        feature_mix, logits = space.head
        self.stem = build_block(space.stem)
        self.fixed = nn.ModuleList(build_block(b) for b in space.fixed_blocks)
        self.layers = nn.ModuleList(layers)
        self.feature_mix = build_block(feature_mix)
        self.classifier = build_block(logits)

    def stem_forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.fixed:
            x = block(x)
        return x

    def head_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_mix(x))

    def input_shape(self, batch: int) -> tuple[int, int, int, int]:
        """NCHW input shape at a batch size."""
        return (batch, 3, self.space.resolution, self.space.resolution)


class Network(SpaceModule):
    """``stem`` -> ``fixed.<j>`` -> ``layers.<i>`` -> ``feature_mix`` -> ``classifier``."""

    def __init__(self, space: SearchSpace, arch: str | Sequence[str] | Sequence[int]) -> None:
        tokens = space.parse(arch)
        blocks = (layer.block(t) for layer, t in zip(space.layers, tokens, strict=True))
        super().__init__(space, (build_optional(b) for b in blocks))
        self.arch = tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_forward(x)
        for layer in self.layers:
            x = layer(x)
        return self.head_forward(x)
