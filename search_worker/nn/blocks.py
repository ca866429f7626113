"""PyTorch modules that realize the torch-free block definitions of ``latency_db.spaces``.

Every block is conv (no bias) + BatchNorm (+ ReLU6). The inverted residual follows
MobileNetV2 (Sandler et al., CVPR 2018) as used by ProxylessNAS (Cai et al., ICLR 2019); its
grouped variant follows FBNet (Wu et al., CVPR 2019): grouped 1x1 convolutions with a channel
shuffle (ShuffleNet, Zhang et al., CVPR 2018) between the expansion and the depthwise conv.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

from latency_db.spaces import Block, ConvBlock, LogitsBlock, MBConvBlock, ProjectionBlock
from latency_db.spaces.cost import has_expansion
from search_worker.nn.shared_mbconv import SharedMBConv

ModuleT = TypeVar("ModuleT", bound=nn.Module)


class ConvBN(nn.Sequential):
    """``conv`` (no bias, padding k//2) + ``bn`` + optional ReLU6 ``act``."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_ch)
        if act:
            self.act = nn.ReLU6()


class ChannelShuffle(nn.Module):
    """Interleave the channels of ``groups`` groups (ShuffleNet).

    A constant-index gather rather than reshape-transpose-reshape: the exported ONNX graph then
    has no shape arithmetic and static shapes throughout.
    """

    order: torch.Tensor

    def __init__(self, groups: int, channels: int) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"{channels} channels do not split into {groups} groups")
        order = torch.arange(channels).view(groups, channels // groups).t().reshape(-1)
        self.register_buffer("order", order, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.order)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand (+ shuffle)], kxk depthwise, 1x1 linear projection."""

    def __init__(self, block: MBConvBlock, *, residual: bool = True) -> None:
        """``residual=False`` leaves out the identity path even where the block has one (a
        supernet adds it once around the mixture of a layer's candidates)."""
        super().__init__()
        hidden, groups = block.hidden_ch, block.groups
        expand = has_expansion(block)
        self.expand = ConvBN(block.in_ch, hidden, 1, groups=groups) if expand else None
        self.shuffle = ChannelShuffle(groups, hidden) if groups > 1 else None
        self.depthwise = ConvBN(hidden, hidden, block.kernel, block.stride, groups=hidden)
        self.project = ConvBN(hidden, block.out_ch, 1, groups=groups, act=False)
        self.beside_identity = block.idskip  # added to an identity path, here or in a supernet
        self.residual = residual and block.idskip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand is not None:
            y = self.expand(y)
        if self.shuffle is not None:
            y = self.shuffle(y)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class Logits(nn.Sequential):
    """Global average pool, flatten, linear classifier with bias (no dropout)."""

    def __init__(self, block: LogitsBlock) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.linear = nn.Linear(block.in_ch, block.num_classes)


def build_block(block: Block) -> nn.Module:
    """The module of one block instance; its input is ``(N, in_ch, in_hw, in_hw)``."""
    if isinstance(block, ConvBlock):
        return ConvBN(block.in_ch, block.out_ch, block.kernel, block.stride)
    if isinstance(block, MBConvBlock):
        return MBConv(block)
    if isinstance(block, ProjectionBlock):
        return ConvBN(block.in_ch, block.out_ch, 1, block.stride, act=False)
    if isinstance(block, LogitsBlock):
        return Logits(block)
    raise TypeError(f"no module for block type {type(block).__name__}")


def init_weights(module: ModuleT, *, seed: int = 0) -> ModuleT:
    """Deterministic init from one seeded generator: Kaiming-normal fan-in convs (He et al.,
    ICCV 2015), BN at (1, 0) with fresh running statistics, N(0, 0.01) linear weights, zero
    biases. Fan-in (not MobileNetV2's fan-out) keeps eval-mode activations of an untrained
    network O(1), so exported models never run into slow denormal floats when timed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
                nn.init.zeros_(m.bias)
    return module


def zero_residual_gamma(module: ModuleT) -> ModuleT:
    """Start every residual branch at zero, for training: the BN that ends an MBConv added to
    an identity path gets gamma 0, so each such block starts as the identity (Goyal et al.,
    "Accurate, Large Minibatch SGD", 2017, section 5.1). An exported, timed or verified
    network keeps :func:`init_weights`' gamma 1, so that every branch shows in its output."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, MBConv) and m.beside_identity:
                m.project.bn.weight.zero_()
            elif isinstance(m, SharedMBConv) and m.beside_identity:
                for norm in m.end_norms():
                    norm.weight.zero_()
    return module


def input_shape(block: Block, batch: int) -> tuple[int, int, int, int]:
    """NCHW input shape of a block at a batch size."""
    return (batch, block.in_ch, block.in_hw, block.in_hw)
