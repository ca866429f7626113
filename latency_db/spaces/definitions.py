"""The built-in space families.

- ``proxyless``: the ProxylessNAS ImageNet MBConv space (Cai et al., ICLR 2019): 21 layers,
  kernel {3,5,7} x expansion {3,6} plus ``zero`` off stage starts.
- ``fbnet`` / ``fbnet-cifar100``: the FBNet space (Wu et al., CVPR 2019) in the token set of
  HW-NAS-Bench (Li et al., ICLR 2021): 22 layers x 9 ops.
"""

from __future__ import annotations

from latency_db.spaces.ops import SKIP, ZERO
from latency_db.spaces.registry import register_space
from latency_db.spaces.space import SpaceDefinition, Stage

_PROXYLESS_OPS = ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6")
_FBNET_OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", SKIP)
_FBNET_CHANNELS = (16, 24, 32, 64, 112, 184, 352)
_FBNET_LAYERS = (1, 4, 4, 4, 4, 4, 1)


def _fbnet_stages(strides: tuple[int, ...]) -> tuple[Stage, ...]:
    return tuple(
        Stage(c, n, s) for c, n, s in zip(_FBNET_CHANNELS, _FBNET_LAYERS, strides, strict=True)
    )


@register_space
def proxyless() -> SpaceDefinition:
    return SpaceDefinition(
        name="proxyless",
        stem_channels=32,
        stem_stride=2,
        first_block=(16, 1, 3),
        stages=(
            Stage(24, 4, 2),
            Stage(40, 4, 2),
            Stage(80, 4, 2),
            Stage(96, 4, 1),
            Stage(192, 4, 2),
            Stage(320, 1, 1),
        ),
        ops=(*_PROXYLESS_OPS, ZERO),
        stage_start_ops=_PROXYLESS_OPS,
        head_channels=1280,
        default_resolution=224,
        default_classes=1000,
    )


def _fbnet(
    name: str, stem_stride: int, strides: tuple[int, ...], head: int, resolution: int, classes: int
) -> SpaceDefinition:
    """The FBNet space (Wu et al., CVPR 2019) as HW-NAS-Bench published it (Li et al., ICLR
    2021): the ImageNet and CIFAR-100 variants differ in strides, head width and input."""
    return SpaceDefinition(
        name=name,
        stem_channels=16,
        stem_stride=stem_stride,
        first_block=None,
        stages=_fbnet_stages(strides),
        ops=_FBNET_OPS,
        stage_start_ops=_FBNET_OPS,
        head_channels=head,
        default_resolution=resolution,
        default_classes=classes,
    )


@register_space
def fbnet() -> SpaceDefinition:
    return _fbnet("fbnet", 2, (1, 2, 2, 2, 1, 2, 1), 1984, 224, 1000)


@register_space
def fbnet_cifar100() -> SpaceDefinition:
    return _fbnet("fbnet-cifar100", 1, (1, 1, 2, 2, 1, 2, 1), 1504, 32, 100)
