"""A lookup table seen as layers x ops: which LUT key each cell of a space instance reads.

Rows are the blocks of the network in order (stem, fixed blocks, each searchable layer,
head); columns are the op tokens of the space plus ``fixed`` for the blocks no search
changes. The CLI prints this grid and the heatmap plot draws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from latency_db.spaces import Block, LogitsBlock, SearchableLayer, SearchSpace

FIXED = "fixed"
IDENTITY = ""  # the cell's op removes the layer: no LUT key, 0 ms


@dataclass(frozen=True)
class LutGrid:
    """``keys[row][column]``: the LUT key of the cell, ``IDENTITY``, or None where the op is
    no candidate of the layer."""

    layers: tuple[str, ...]
    ops: tuple[str, ...]
    keys: tuple[tuple[str | None, ...], ...]

    def cell_ms(self, ms_by_key: Mapping[str, float]) -> list[list[float | None]]:
        """Milliseconds per cell: 0 for an identity, None where there is no candidate or
        the key is not measured (see :meth:`missing`)."""
        return [[_ms(key, ms_by_key) for key in row] for row in self.keys]

    def missing(self, ms_by_key: Mapping[str, float]) -> set[tuple[int, int]]:
        """(row, column) of every cell whose key has no measurement."""
        return {
            (r, c)
            for r, row in enumerate(self.keys)
            for c, key in enumerate(row)
            if key and key not in ms_by_key
        }


def lut_grid(space: SearchSpace) -> LutGrid:
    """The grid of a space instance (every op key of the space appears in some cell)."""
    definition = space.definition
    ops = tuple(dict.fromkeys((*definition.stage_start_ops, *definition.ops)))
    columns = (*ops, FIXED)
    layers: list[str] = []
    keys: list[tuple[str | None, ...]] = []

    def fixed_row(name: str, block: Block) -> None:
        stride = 1 if isinstance(block, LogitsBlock) else block.stride
        layers.append(_label(name, block.in_hw, block.in_ch, stride))
        keys.append(tuple(block.key if c == FIXED else None for c in columns))

    fixed_row("stem", space.stem)
    for block in space.fixed_blocks:
        fixed_row("fixed", block)
    for layer in space.layers:
        shape = layer.shape
        layers.append(_label(f"L{layer.index}", shape.in_hw, shape.in_ch, shape.stride))
        keys.append(tuple(_key(layer, column) for column in columns))
    feature_mix, logits = space.head
    fixed_row("head", feature_mix)
    fixed_row("logits", logits)
    return LutGrid(layers=tuple(layers), ops=columns, keys=tuple(keys))


def _key(layer: SearchableLayer, op: str) -> str | None:
    if op not in layer.candidates:
        return None
    block = layer.block(op)
    return IDENTITY if block is None else block.key


def _label(name: str, hw: int, channels: int, stride: int) -> str:
    """``L3 56x56x24 /2``: the row's name, its input shape and any stride."""
    return f"{name} {hw}x{hw}x{channels}" + (f" /{stride}" if stride > 1 else "")


def _ms(key: str | None, ms_by_key: Mapping[str, float]) -> float | None:
    if key == IDENTITY:
        return 0.0
    return None if key is None else ms_by_key.get(key)
