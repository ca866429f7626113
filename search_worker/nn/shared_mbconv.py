"""The inverted-residual candidates of one searchable layer in one set of convolution weights.

A k x k candidate uses the centre of the largest kernel, an expansion-e candidate the first
``in_ch * e`` hidden channels of the largest expansion: the superkernel of Single-Path NAS
(Stamoulis et al., ECML-PKDD 2019), OFA's elastic kernel and width without its kernel
transformation (Cai et al., ICLR 2020, section 3.2). Each candidate keeps its own batch norms,
whose statistics differ with kernel and width (switchable batch norm: Yu et al., "Slimmable
Neural Networks", ICLR 2019).

Why: with separate weights per candidate, the first layer of a stage hands the next one a
different feature space for each of its candidates, and a supernet trained on uniformly sampled
paths stayed above chance loss for 300 steps where one fixed path learned (docs/results.md,
"Why no search beats random"). Sharing makes every path's features alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from latency_db.spaces import MBConvBlock
from latency_db.spaces.cost import has_expansion

STAGES = ("expand", "depthwise", "project")


def shares_weights(block: MBConvBlock) -> bool:
    """Whether a candidate can be a slice of a layer's superkernel: ungrouped 1x1 convolutions
    (a channel slice of a grouped one is not a grouped conv) and an expansion conv."""
    return block.groups == 1 and has_expansion(block)


class SharedMBConv(nn.Module):
    """Residual branches (no identity path) of several MBConv candidates of one layer, with
    ``expand``, ``depthwise`` and ``project`` convolutions at the largest width and kernel and
    ``norms.<slot>.<stage>`` per candidate."""

    def __init__(self, blocks: Sequence[MBConvBlock]) -> None:
        super().__init__()
        first = blocks[0]
        for block in blocks:
            if not shares_weights(block):
                raise ValueError(f"{block.key} cannot share a superkernel")
            if (block.in_hw, block.in_ch, block.out_ch, block.stride) != (
                first.in_hw,
                first.in_ch,
                first.out_ch,
                first.stride,
            ):
                raise ValueError("candidates of one layer differ in shape or stride")
        self.blocks = tuple(blocks)
        hidden = max(block.hidden_ch for block in blocks)
        kernel = max(block.kernel for block in blocks)
        self.expand = nn.Conv2d(first.in_ch, hidden, 1, bias=False)
        self.depthwise = nn.Conv2d(hidden, hidden, kernel, groups=hidden, bias=False)
        self.project = nn.Conv2d(hidden, first.out_ch, 1, bias=False)
        self.norms = nn.ModuleList(
            nn.ModuleDict(
                {
                    "expand": nn.BatchNorm2d(block.hidden_ch),
                    "depthwise": nn.BatchNorm2d(block.hidden_ch),
                    "project": nn.BatchNorm2d(block.out_ch),
                }
            )
            for block in blocks
        )
        self.beside_identity = first.idskip

    def slices(self, slot: int) -> dict[str, tuple[slice, ...]]:
        """Where candidate ``slot``'s weights lie in each superkernel convolution's weight."""
        block = self.blocks[slot]
        hidden, kernel = slice(block.hidden_ch), block.kernel
        start = (self.depthwise.kernel_size[0] - kernel) // 2
        window = slice(start, start + kernel)
        return {
            "expand": (hidden,),
            "depthwise": (hidden, slice(None), window, window),
            "project": (slice(None), hidden),
        }

    def weights(self, slot: int) -> dict[str, torch.Tensor]:
        """The convolution weights of candidate ``slot``: views into the superkernel."""
        convs = {"expand": self.expand, "depthwise": self.depthwise, "project": self.project}
        return {stage: convs[stage].weight[index] for stage, index in self.slices(slot).items()}

    def forward(self, x: torch.Tensor, slot: int) -> torch.Tensor:
        block, norms, weights = self.blocks[slot], self.candidate_norms(slot), self.weights(slot)
        y = functional.relu6(norms["expand"](functional.conv2d(x, weights["expand"])))
        y = functional.conv2d(
            y,
            weights["depthwise"],
            stride=block.stride,
            padding=block.kernel // 2,
            groups=block.hidden_ch,
        )
        y = functional.relu6(norms["depthwise"](y))
        return norms["project"](functional.conv2d(y, weights["project"]))

    def candidate_state(self, slot: int) -> dict[str, torch.Tensor]:
        """Candidate ``slot``'s weights and buffers under the keys of a standalone
        :class:`search_worker.nn.blocks.MBConv` of its block."""
        state = {f"{stage}.conv.weight": w for stage, w in self.weights(slot).items()}
        for stage in STAGES:
            for key, value in self.candidate_norms(slot)[stage].state_dict().items():
                state[f"{stage}.bn.{key}"] = value
        return state

    def end_norms(self) -> list[nn.BatchNorm2d]:
        """The batch norm that ends each candidate's branch."""
        norms = [self.candidate_norms(slot)["project"] for slot in range(len(self.blocks))]
        assert all(isinstance(norm, nn.BatchNorm2d) for norm in norms)
        return norms  # type: ignore[return-value]

    def candidate_norms(self, slot: int) -> nn.ModuleDict:
        """Candidate ``slot``'s batch norms by stage."""
        norms = self.norms[slot]
        assert isinstance(norms, nn.ModuleDict)
        return norms
