"""A weight-sharing supernet: every searchable layer is a mixed op over all its candidates.

One forward serves the estimators of the search (design section 6) through a per-layer
:class:`PathSelection`:

- ``PathSelection.mixture(w)``: weighted sum of all paths, ``sum_j w_j op_j(x)`` (DARTS, Liu
  et al., ICLR 2019; SNAS, Xie et al., ICLR 2019; FBNet, Wu et al., CVPR 2019);
- ``PathSelection.single(j)``: one path, ``op_j(x)``, only that path computed (ProxylessNAS,
  Cai et al., ICLR 2019; SPOS, Guo et al., ECCV 2020);
- ``PathSelection.subset((i, j), g)``: ``g_0 op_i(x) + g_1 op_j(x)``, only those paths
  computed and kept for backward (ProxylessNAS' BinaryConnect two-path update, where ``g`` is a
  one-hot gate carrying straight-through gradients to the architecture weights).

Candidates ``zero`` and shape-keeping ``skip`` are identities. Where a layer keeps its shape,
its identity path is added once outside the selection, ``x + sum_j w_j y_j`` with y_j the
candidate's residual branch (0 for an identity), as ProxylessNAS' MobileInvertedResidualBlock
wraps its MixedEdge: the gradient of a gate w_j is then <dL/dout, y_j> (GDAS, Dong and Yang,
CVPR 2019), not <dL/dout, x + y_j>, which a single straight-through gate would keep whole. The
inverted residuals of a layer are slices of one superkernel (:mod:`search_worker.nn.shared_mbconv`);
stem, fixed blocks and head are shared by all paths; :meth:`Supernet.extract` copies one
architecture into a :class:`Network`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from latency_db.spaces import Block, MBConvBlock, SearchableLayer, SearchSpace
from search_worker.nn.blocks import MBConv
from search_worker.nn.network import Network, SpaceModule, build_optional
from search_worker.nn.shared_mbconv import SharedMBConv, shares_weights


@dataclass(frozen=True)
class PathSelection:
    """Which candidates of a layer run, and the weight of each (``None``: one unweighted path)."""

    indices: tuple[int, ...]
    weights: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not self.indices or len(set(self.indices)) != len(self.indices):
            raise ValueError(f"path indices must be distinct and non-empty, got {self.indices}")
        if self.weights is None:
            if len(self.indices) != 1:
                raise ValueError("several paths need weights")
        elif tuple(self.weights.shape) != (len(self.indices),):
            raise ValueError(
                f"expected {len(self.indices)} path weights, got shape {tuple(self.weights.shape)}"
            )

    @classmethod
    def single(cls, index: int) -> PathSelection:
        return cls((index,))

    @classmethod
    def mixture(cls, weights: torch.Tensor) -> PathSelection:
        """All candidates, weighted by a vector with one entry per candidate."""
        return cls(tuple(range(weights.shape[0])), weights)

    @classmethod
    def subset(cls, indices: Sequence[int], weights: torch.Tensor) -> PathSelection:
        return cls(tuple(indices), weights)


class Zero(nn.Module):
    """The residual branch of a removed layer (ProxylessNAS' ``ZeroLayer``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def residual_branch(block: Block | None) -> nn.Module:
    """A candidate of a shape-keeping layer without its identity path."""
    if block is None:
        return Zero()
    if not isinstance(block, MBConvBlock):
        raise TypeError(f"no residual branch for {type(block).__name__}")
    return MBConv(block, residual=False)


class MixedOp(nn.Module):
    """The candidates of one searchable layer in the layer's token order: the inverted
    residuals that can share one superkernel in ``shared`` (:mod:`search_worker.nn.shared_mbconv`),
    every other candidate as ``candidates.<j>``; where the layer keeps its shape, their residual
    branches around one identity path."""

    def __init__(self, layer: SearchableLayer) -> None:
        super().__init__()
        self.tokens = layer.candidates
        self.residual = layer.shape.keeps_shape
        blocks = [layer.block(t) for t in layer.candidates]
        sharing = {
            j: b for j, b in enumerate(blocks) if isinstance(b, MBConvBlock) and shares_weights(b)
        }
        self.shared_slot = {j: slot for slot, j in enumerate(sharing)}
        self.shared = SharedMBConv(list(sharing.values())) if sharing else None
        build = residual_branch if self.residual else build_optional
        self.candidates = nn.ModuleDict(
            {str(j): build(b) for j, b in enumerate(blocks) if j not in self.shared_slot}
        )

    def path(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Candidate ``index``'s output (its residual branch where the layer keeps its shape)."""
        if not 0 <= index < len(self.tokens):
            raise IndexError(f"path {index} out of range 0..{len(self.tokens) - 1}")
        slot = self.shared_slot.get(index)
        if slot is None:
            return self.candidates[str(index)](x)
        assert self.shared is not None
        return self.shared(x, slot)

    def candidate_state(self, index: int) -> dict[str, torch.Tensor]:
        """Candidate ``index``'s weights and buffers under the keys of the layer module of a
        standalone :class:`Network` (views, not copies)."""
        slot = self.shared_slot.get(index)
        if slot is None:
            return self.candidates[str(index)].state_dict()
        assert self.shared is not None
        return self.shared.candidate_state(slot)

    def forward(self, x: torch.Tensor, selection: PathSelection) -> torch.Tensor:
        if selection.weights is None:
            out = self.path(selection.indices[0], x)
        else:
            paths = zip(selection.indices, selection.weights.unbind(), strict=True)
            out = functools.reduce(operator.add, (w * self.path(i, x) for i, w in paths))
        return x + out if self.residual else out


class Supernet(SpaceModule):
    """Shared stem/fixed/head around one :class:`MixedOp` per searchable layer."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__(space, (MixedOp(layer) for layer in space.layers))

    def forward(self, x: torch.Tensor, selections: Sequence[PathSelection]) -> torch.Tensor:
        """Run with one :class:`PathSelection` per searchable layer."""
        if len(selections) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} selections, got {len(selections)}")
        x = self.stem_forward(x)
        for layer, selection in zip(self.layers, selections, strict=True):
            x = layer(x, selection)
        return self.head_forward(x)

    def select(self, arch: Sequence[str] | Sequence[int]) -> list[PathSelection]:
        """Single-path selections of an architecture (tokens or op indices)."""
        tokens = self.space.parse(arch)
        return [PathSelection.single(j) for j in self.space.indices(tokens)]

    def extract(self, arch: Sequence[str] | Sequence[int]) -> Network:
        """A standalone network of ``arch`` holding copies of the chosen candidates' weights
        and buffers, on the supernet's device, in its train/eval mode."""
        tokens = self.space.parse(arch)
        chosen = self.space.indices(tokens)
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("layers.")}
        for i, (layer, j) in enumerate(zip(self.layers, chosen, strict=True)):
            assert isinstance(layer, MixedOp)
            state |= {f"layers.{i}.{k}": v for k, v in layer.candidate_state(j).items()}
        network = Network(self.space, tokens).to(next(self.parameters()).device)
        network.load_state_dict(state)
        return network.train(self.training)
