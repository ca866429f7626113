"""Architectures as arrays: op indices [n, L], one-hot rows, and per-layer LUT latencies.

Layers are ragged (a stage's first layer has no ``zero``), so per-layer tables are padded to
[L, K], K the largest candidate count, with a mask of the real entries. In JSON a table is a
list of per-layer lists, whose lengths are the candidate counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray

from latency_db.errors import ValidationError
from latency_db.spaces import SearchableLayer, SearchSpace

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Layout:
    """The candidate count of every searchable layer."""

    counts: tuple[int, ...]

    @property
    def n_layers(self) -> int:
        return len(self.counts)

    @property
    def max_candidates(self) -> int:
        return max(self.counts)

    @property
    def width(self) -> int:
        """Length of a one-hot row: all candidates of all layers."""
        return sum(self.counts)

    @property
    def mask(self) -> NDArray[np.bool_]:
        """[L, K], true where layer l has a candidate k."""
        return np.arange(self.max_candidates)[None, :] < np.asarray(self.counts)[:, None]

    def check(self, indices: ArrayLike) -> IntArray:
        """Op indices [n, L] as int64, or ``ValidationError`` naming the first bad entry."""
        idx = np.asarray(indices)
        if idx.ndim != 2 or idx.shape[1] != self.n_layers:
            raise ValidationError(
                f"expected op indices of shape [n, {self.n_layers}], got {list(idx.shape)}"
            )
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ValidationError(f"op indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        bad = np.argwhere((idx < 0) | (idx >= np.asarray(self.counts)))
        if bad.size:
            row, layer = (int(v) for v in bad[0])
            raise ValidationError(
                f"architecture {row}, layer {layer}: op index {idx[row, layer]} out of range "
                f"0..{self.counts[layer] - 1}"
            )
        return idx

    def one_hot(self, indices: IntArray) -> FloatArray:
        """[n, width]: layer-major, candidates in each layer's order (rows of ``mask``)."""
        offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        out = np.zeros((indices.shape[0], self.width))
        np.put_along_axis(out, indices + offsets, 1.0, axis=1)
        return out

    def pad(self, rows: Sequence[Sequence[float]]) -> FloatArray:
        """A ragged per-layer table as [L, K], zeros where the mask is false."""
        table = np.zeros(self.mask.shape)
        table[self.mask] = np.concatenate([np.asarray(r, dtype=np.float64) for r in rows])
        return table

    def unpad(self, table: FloatArray) -> list[list[float]]:
        return [[float(v) for v in table[i, :c]] for i, c in enumerate(self.counts)]


def ragged_table(value: object, name: str) -> tuple[Layout, FloatArray]:
    """Parse a per-layer JSON table (list of non-empty lists of finite numbers)."""
    if not isinstance(value, list) or not value:
        raise ValidationError(f"{name} must be a non-empty list of per-layer lists")
    for i, row in enumerate(value):
        if not isinstance(row, list) or not row:
            raise ValidationError(f"{name}[{i}] must be a non-empty list of numbers")
        if not all(is_finite_number(v) for v in row):
            raise ValidationError(f"{name}[{i}] holds a value that is not a finite number")
    layout = Layout(tuple(len(row) for row in value))
    return layout, layout.pad(value)


def is_finite_number(value: object) -> TypeGuard[int | float]:
    """A JSON number (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, eq=False)
class LayerTable:
    """Additive latencies of a space instance: a fixed part and one latency per (layer, op).

    From a LUT, ``fixed_ms`` sums stem, fixed blocks and head; a fitted additive model keeps
    its bias there.
    """

    space_ref: str
    layout: Layout
    fixed_ms: float
    table_ms: FloatArray  # [L, K]; 0 for identities (``zero``) and padding

    def per_layer_ms(self, indices: IntArray) -> FloatArray:
        """[n, L]: the LUT latency of each layer's chosen op."""
        return self.table_ms[np.arange(self.layout.n_layers), indices]

    def total_ms(self, indices: IntArray) -> FloatArray:
        """[n]: latency of whole architectures."""
        return self.fixed_ms + self.per_layer_ms(indices).sum(axis=1)


def layer_table(space: SearchSpace, lut: Mapping[str, float]) -> LayerTable:
    """Arrange a LUT (op key -> ms) by layer; every key the space needs must be present."""
    keys = space.all_op_keys()
    missing = [k for k in keys if k not in lut]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValidationError(
            f"lookup table lacks {len(missing)} op key(s) of space {space.ref}: "
            f"{', '.join(missing[:5])}{more} (build it with hwnas lut build or import one with "
            "hwnas lut import; linear and mlp fit on whole-network measurements without one)"
        )
    bad = [k for k in keys if not is_finite_number(lut[k]) or lut[k] <= 0]
    if bad:
        raise ValidationError(f"lookup table latencies must be finite and > 0: {', '.join(bad)}")

    def ms(layer: SearchableLayer, token: str) -> float:
        block = layer.block(token)
        return 0.0 if block is None else float(lut[block.key])

    layout = Layout(tuple(len(layer.candidates) for layer in space.layers))
    rows = [[ms(layer, t) for t in layer.candidates] for layer in space.layers]
    fixed = sum(float(lut[b.key]) for b in space.fixed_head_blocks())
    return LayerTable(space.ref, layout, fixed, layout.pad(rows))


def encode_architectures(
    space: SearchSpace, architectures: Sequence[str | Sequence[str]]
) -> IntArray:
    """Op indices [n, L] of architecture strings or token lists, looked up layer by layer."""
    rows = [a.split() if isinstance(a, str) else list(a) for a in architectures]
    n_layers = len(space.layers)
    for i, row in enumerate(rows):
        if len(row) != n_layers:
            _reject(space, i, row)
    tokens = np.array(rows, dtype=str).reshape(len(rows), n_layers)
    out = np.empty((len(rows), n_layers), dtype=np.int64)
    for layer in space.layers:
        candidates = np.array(layer.candidates)
        order = np.argsort(candidates)
        column = tokens[:, layer.index]
        pos = np.minimum(np.searchsorted(candidates[order], column), len(candidates) - 1)
        unknown = np.flatnonzero(candidates[order][pos] != column)
        if unknown.size:
            _reject(space, int(unknown[0]), rows[int(unknown[0])])
        out[:, layer.index] = order[pos]
    return out


def _reject(space: SearchSpace, i: int, row: Sequence[object]) -> None:
    try:
        space.parse(row)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValidationError(f"architecture {i}: {exc}") from None
    raise ValidationError(f"architecture {i}: expected op tokens, got {row!r}")
