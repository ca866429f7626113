"""Closed-form parameter counts of blocks and architectures, from the block definitions alone.

Counts trainable parameters as the PyTorch realization has them: conv weights (no bias),
two per BatchNorm channel (weight and bias; running statistics are buffers), linear weight and
bias. The 1x1 expansion of an inverted residual exists unless ``expand == 1`` (MobileNetV2,
Sandler et al., CVPR 2018); FBNet's grouped blocks keep it (Wu et al., CVPR 2019).
"""

from __future__ import annotations

from collections.abc import Sequence

from latency_db.spaces.blocks import Block, ConvBlock, LogitsBlock, MBConvBlock, ProjectionBlock
from latency_db.spaces.space import SearchSpace


def _conv_bn(in_ch: int, out_ch: int, kernel: int, groups: int = 1) -> int:
    return kernel * kernel * (in_ch // groups) * out_ch + 2 * out_ch


def has_expansion(block: MBConvBlock) -> bool:
    """Whether an inverted residual has its 1x1 expansion conv."""
    return block.expand != 1 or block.groups > 1


def block_params(block: Block) -> int:
    """Number of trainable parameters of one block instance."""
    if isinstance(block, ConvBlock):
        return _conv_bn(block.in_ch, block.out_ch, block.kernel)
    if isinstance(block, MBConvBlock):
        hidden, groups = block.hidden_ch, block.groups
        expand = _conv_bn(block.in_ch, hidden, 1, groups) if has_expansion(block) else 0
        depthwise = _conv_bn(hidden, hidden, block.kernel, hidden)
        return expand + depthwise + _conv_bn(hidden, block.out_ch, 1, groups)
    if isinstance(block, ProjectionBlock):
        return _conv_bn(block.in_ch, block.out_ch, 1)
    if isinstance(block, LogitsBlock):
        return block.in_ch * block.num_classes + block.num_classes
    raise TypeError(f"unknown block type {type(block).__name__}")


def network_params(space: SearchSpace, arch: Sequence[str]) -> int:
    """Number of trainable parameters of an architecture's standalone network."""
    return sum(block_params(b) for b in space.blocks(arch))
