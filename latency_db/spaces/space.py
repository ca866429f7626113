"""A search-space instance: fixed stem and head, searchable layers, architecture strings.

A *definition* (the MBConv family of ProxylessNAS or FBNet) becomes an *instance* once input
resolution, width multiplier and number of classes are fixed. Architectures are tuples of op
tokens, one per searchable layer (``k3_e6 k5_e3 zero ...``), or equivalently op indices into
each layer's candidate list.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from latency_db.spaces.blocks import (
    Block,
    ConvBlock,
    LogitsBlock,
    MBConvBlock,
    make_divisible,
)
from latency_db.spaces.ops import LayerShape, block_for

Architecture = tuple[str, ...]
# What a worker can train and an agent can run (the API's schemas use the same bounds).
MAX_RESOLUTION = 1024
MAX_CLASSES = 100_000


@dataclass(frozen=True)
class Stage:
    """A run of searchable layers with the same output channels; the first may stride."""

    channels: int
    layers: int
    stride: int


@dataclass(frozen=True)
class SpaceDefinition:
    """The resolution-independent description of a space family."""

    name: str
    stem_channels: int
    stem_stride: int
    first_block: tuple[int, int, int] | None  # fixed (channels, expand, kernel), stride 1
    stages: tuple[Stage, ...]
    ops: tuple[str, ...]  # candidates of a layer inside a stage
    stage_start_ops: tuple[str, ...]  # candidates of a stage's first layer
    head_channels: int
    default_resolution: int
    default_classes: int


@dataclass(frozen=True)
class SearchableLayer:
    """One searchable position: its shape and the op tokens it may take."""

    index: int
    stage: int
    shape: LayerShape
    candidates: tuple[str, ...]

    def block(self, token: str) -> Block | None:
        return block_for(token, self.shape)


@dataclass(frozen=True)
class SearchSpace:
    """A space definition instantiated at a resolution, width multiplier and class count."""

    definition: SpaceDefinition
    resolution: int
    width_mult: float = 1.0
    num_classes: int = 1000
    stem: ConvBlock = field(init=False)
    fixed_blocks: tuple[Block, ...] = field(init=False)
    layers: tuple[SearchableLayer, ...] = field(init=False)
    head: tuple[ConvBlock, LogitsBlock] = field(init=False)

    def __post_init__(self) -> None:
        d = self.definition
        if not 8 <= self.resolution <= MAX_RESOLUTION:
            raise ValueError(f"resolution must be in [8, {MAX_RESOLUTION}], got {self.resolution}")
        if not 0.1 <= self.width_mult <= 4.0:
            raise ValueError(f"width_mult must be in [0.1, 4], got {self.width_mult}")
        if not 2 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(f"num_classes must be in [2, {MAX_CLASSES}], got {self.num_classes}")
        width = self._scale
        stem = ConvBlock("Conv", self.resolution, 3, width(d.stem_channels), 3, d.stem_stride)
        hw, ch = stem.out_hw, stem.out_ch
        fixed: list[Block] = []
        if d.first_block is not None:
            out_ch, expand, kernel = d.first_block
            first = MBConvBlock(hw, ch, width(out_ch), expand, kernel, 1)
            fixed.append(first)
            ch = first.out_ch
        layers: list[SearchableLayer] = []
        for stage_index, stage in enumerate(d.stages):
            out_ch = width(stage.channels)
            for i in range(stage.layers):
                stride = stage.stride if i == 0 else 1
                shape = LayerShape(hw, ch, out_ch, stride)
                ops = d.stage_start_ops if i == 0 else d.ops
                layers.append(SearchableLayer(len(layers), stage_index, shape, ops))
                hw, ch = math.ceil(hw / stride), out_ch
        head_ch = (
            make_divisible(d.head_channels * self.width_mult)
            if self.width_mult > 1
            else (d.head_channels)
        )
        feature_mix = ConvBlock("Conv_1", hw, ch, head_ch, 1, 1)
        object.__setattr__(self, "stem", stem)
        object.__setattr__(self, "fixed_blocks", tuple(fixed))
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "head", (feature_mix, LogitsBlock(hw, head_ch, self.num_classes)))

    def _scale(self, channels: int) -> int:
        return make_divisible(channels * self.width_mult)

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def ref(self) -> str:
        """Canonical text id of the instance, e.g. ``proxyless-r224-w1.0-c1000``."""
        return f"{self.name}-r{self.resolution}-w{self.width_mult:g}-c{self.num_classes}"

    def describe(self) -> dict[str, object]:
        return {
            "space": self.name,
            "resolution": self.resolution,
            "width_mult": self.width_mult,
            "num_classes": self.num_classes,
            "layers": len(self.layers),
            "size": self.size(),
            "op_keys": len(self.all_op_keys()),
        }

    # -- architectures --------------------------------------------------------------------
    def parse(self, text: str | Sequence[str] | Sequence[int]) -> Architecture:
        """Parse a space-separated string, a token list or an op-index list; validate it."""
        items: list[str | int] = list(text.split() if isinstance(text, str) else text)
        if len(items) != len(self.layers):
            raise ValueError(
                f"architecture has {len(items)} layers, space {self.ref} has {len(self.layers)}"
            )
        tokens: list[str] = []
        for layer, item in zip(self.layers, items, strict=True):
            tokens.append(self._token_at(layer, item))
        return tuple(tokens)

    def _token_at(self, layer: SearchableLayer, item: str | int) -> str:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise ValueError(f"layer {layer.index}: expected an op token or index, got {item!r}")
        if isinstance(item, int):
            if not 0 <= item < len(layer.candidates):
                raise ValueError(
                    f"layer {layer.index}: op index {item} out of range "
                    f"0..{len(layer.candidates) - 1}"
                )
            return layer.candidates[item]
        if item not in layer.candidates:
            if item in self.definition.ops:
                raise ValueError(
                    f"layer {layer.index}: {item!r} is not allowed where stage "
                    f"{layer.stage} starts (allowed: {', '.join(layer.candidates)})"
                )
            raise ValueError(
                f"layer {layer.index}: unknown op token {item!r} "
                f"(allowed: {', '.join(layer.candidates)})"
            )
        return item

    def format(self, arch: Sequence[str]) -> str:
        return " ".join(self.parse(arch))

    def indices(self, arch: Sequence[str]) -> list[int]:
        """Op indices of a (valid) architecture into each layer's candidate list."""
        return [
            layer.candidates.index(t)
            for layer, t in zip(self.layers, self.parse(arch), strict=True)
        ]

    def sample(self, rng: random.Random | int | None = None) -> Architecture:
        """An architecture drawn uniformly at random, layer by layer."""
        rng = rng if isinstance(rng, random.Random) else random.Random(rng)
        return tuple(rng.choice(layer.candidates) for layer in self.layers)

    def size(self) -> int:
        """Number of distinct architectures."""
        return math.prod(len(layer.candidates) for layer in self.layers)

    # -- blocks and lookup-table keys -----------------------------------------------------
    def fixed_head_blocks(self) -> tuple[Block, ...]:
        return (self.stem, *self.fixed_blocks, *self.head)

    def blocks(self, arch: Sequence[str]) -> list[Block]:
        """Every block in order: stem, fixed, searchable (identities dropped), head."""
        searchable = [
            layer.block(t) for layer, t in zip(self.layers, self.parse(arch), strict=True)
        ]
        return [
            self.stem,
            *self.fixed_blocks,
            *(b for b in searchable if b is not None),
            *self.head,
        ]

    def op_keys(self, arch: Sequence[str]) -> list[str]:
        """LUT keys whose sum is the architecture's lookup-table latency."""
        return [b.key for b in self.blocks(arch)]

    def candidate_blocks(self) -> dict[str, Block]:
        """Every distinct block instance of the space (all ops of all layers, stem, head)."""
        found: dict[str, Block] = {b.key: b for b in self.fixed_head_blocks()}
        for layer in self.layers:
            for token in layer.candidates:
                block = layer.block(token)
                if block is not None:
                    found.setdefault(block.key, block)
        return found

    def all_op_keys(self) -> list[str]:
        return sorted(self.candidate_blocks())

    def searchable_op_keys(self) -> list[str]:
        fixed = {b.key for b in self.fixed_head_blocks()}
        return [k for k in self.all_op_keys() if k not in fixed]
