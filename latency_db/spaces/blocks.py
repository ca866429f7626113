"""Block instances of a search space and their lookup-table (LUT) keys.

Key format follows the lookup tables ProxylessNAS published (Cai et al., ICLR 2019,
``latency_estimator.py``), e.g.
``expanded_conv-input:56x56x24-output:56x56x24-expand:3-kernel:5-stride:1-idskip:1``.
Batch size, precision and runtime settings are not part of a key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


def conv_out(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded convolution (padding k//2, odd k)."""
    return math.ceil(size / stride)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor`` without dropping more than 10% (MobileNetV2)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _shape(hw: int, ch: int) -> str:
    return f"{hw}x{hw}x{ch}"


@dataclass(frozen=True)
class ConvBlock:
    """A plain conv + BN + ReLU6 layer: the stem (``Conv``) or the feature mix (``Conv_1``)."""

    name: Literal["Conv", "Conv_1"]
    in_hw: int
    in_ch: int
    out_ch: int
    kernel: int
    stride: int

    @property
    def out_hw(self) -> int:
        return conv_out(self.in_hw, self.stride)

    @property
    def key(self) -> str:
        return (
            f"{self.name}-input:{_shape(self.in_hw, self.in_ch)}"
            f"-output:{_shape(self.out_hw, self.out_ch)}"
        )


@dataclass(frozen=True)
class MBConvBlock:
    """Inverted residual block (MobileNetV2): 1x1 expand, kxk depthwise, 1x1 project.

    ``groups`` > 1 makes both 1x1 convolutions grouped with a channel shuffle between them
    (FBNet's ``_g2`` blocks, Wu et al., CVPR 2019).
    """

    in_hw: int
    in_ch: int
    out_ch: int
    expand: int
    kernel: int
    stride: int
    groups: int = 1

    @property
    def out_hw(self) -> int:
        return conv_out(self.in_hw, self.stride)

    @property
    def hidden_ch(self) -> int:
        return self.in_ch * self.expand

    @property
    def idskip(self) -> bool:
        """Residual add: stride 1 and equal channels."""
        return self.stride == 1 and self.in_ch == self.out_ch

    @property
    def key(self) -> str:
        key = (
            f"expanded_conv-input:{_shape(self.in_hw, self.in_ch)}"
            f"-output:{_shape(self.out_hw, self.out_ch)}"
            f"-expand:{self.expand}-kernel:{self.kernel}-stride:{self.stride}"
            f"-idskip:{int(self.idskip)}"
        )
        return key + (f"-group:{self.groups}" if self.groups > 1 else "")


@dataclass(frozen=True)
class ProjectionBlock:
    """1x1 conv + BN standing in for ``skip`` where a layer changes shape (FBNet)."""

    in_hw: int
    in_ch: int
    out_ch: int
    stride: int

    @property
    def out_hw(self) -> int:
        return conv_out(self.in_hw, self.stride)

    @property
    def key(self) -> str:
        return (
            f"skip-input:{_shape(self.in_hw, self.in_ch)}"
            f"-output:{_shape(self.out_hw, self.out_ch)}-stride:{self.stride}"
        )


@dataclass(frozen=True)
class LogitsBlock:
    """Global average pool + linear classifier."""

    in_hw: int
    in_ch: int
    num_classes: int

    @property
    def out_hw(self) -> int:
        return 1

    @property
    def key(self) -> str:
        return f"Logits-input:{_shape(self.in_hw, self.in_ch)}-output:{self.num_classes}"


Block = ConvBlock | MBConvBlock | ProjectionBlock | LogitsBlock
