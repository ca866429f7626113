"""Candidate operations: the tokens of architecture strings and the blocks they realize."""

from __future__ import annotations

import re
from dataclasses import dataclass

from latency_db.spaces.blocks import Block, MBConvBlock, ProjectionBlock

_MBCONV_TOKEN = re.compile(r"^k(?P<kernel>[357])_e(?P<expand>\d+)(?:_g(?P<groups>\d+))?$")
ZERO = "zero"
SKIP = "skip"


@dataclass(frozen=True)
class LayerShape:
    """Where a searchable layer sits: its input shape, output channels and stride."""

    in_hw: int
    in_ch: int
    out_ch: int
    stride: int

    @property
    def keeps_shape(self) -> bool:
        return self.stride == 1 and self.in_ch == self.out_ch


def block_for(token: str, shape: LayerShape) -> Block | None:
    """The block a token realizes at a layer; ``None`` when the layer is an identity.

    ``zero`` (ProxylessNAS) removes the layer, leaving its residual identity path; ``skip``
    (FBNet) is an identity where the shape is kept, else a 1x1 projection.
    """
    if token == ZERO:
        if not shape.keeps_shape:
            raise ValueError(f"'{ZERO}' needs a layer that keeps its shape")
        return None
    if token == SKIP:
        if shape.keeps_shape:
            return None
        return ProjectionBlock(shape.in_hw, shape.in_ch, shape.out_ch, shape.stride)
    match = _MBCONV_TOKEN.match(token)
    if match is None:
        raise ValueError(f"unknown op token {token!r}")
    return MBConvBlock(
        in_hw=shape.in_hw,
        in_ch=shape.in_ch,
        out_ch=shape.out_ch,
        expand=int(match["expand"]),
        kernel=int(match["kernel"]),
        stride=shape.stride,
        groups=int(match["groups"] or 1),
    )
