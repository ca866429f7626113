"""Closed-form parameter counts, checked by hand and against MobileNetV2's published count."""

from __future__ import annotations

from latency_db.spaces import (
    ConvBlock,
    LogitsBlock,
    MBConvBlock,
    ProjectionBlock,
    SearchSpace,
    SpaceDefinition,
    block_params,
    get_space,
    network_params,
)
from latency_db.spaces.space import Stage


def test_stem_at_224_by_hand() -> None:
    stem = get_space("proxyless", resolution=224).stem
    assert block_params(stem) == 3 * 3 * 3 * 32 + 2 * 32 == 928


def test_blocks_by_hand() -> None:
    # e1 without grouping: no expansion conv; depthwise 3x3 on 32 ch, project 32 -> 16.
    assert block_params(MBConvBlock(112, 32, 16, 1, 3, 1)) == (9 * 32 + 64) + (32 * 16 + 32)
    # e6 k5: expand 24 -> 144, depthwise 5x5, project 144 -> 40.
    expected = (24 * 144 + 288) + (25 * 144 + 288) + (144 * 40 + 80)
    assert block_params(MBConvBlock(56, 24, 40, 6, 5, 2)) == expected
    # FBNet k3_e1_g2: both 1x1 convs grouped (half the weights), expansion kept.
    grouped = MBConvBlock(32, 16, 24, 1, 3, 2, groups=2)
    assert block_params(grouped) == (16 * 16 // 2 + 32) + (9 * 16 + 32) + (16 * 24 // 2 + 48) == 576
    assert block_params(ProjectionBlock(32, 16, 24, 2)) == 16 * 24 + 48
    assert block_params(ConvBlock("Conv_1", 7, 320, 1280, 1, 1)) == 320 * 1280 + 2 * 1280
    assert block_params(LogitsBlock(7, 1280, 1000)) == 1280 * 1000 + 1000


def test_mobilenet_v2_matches_published_count() -> None:
    """MobileNetV2 1.0 (Sandler et al., CVPR 2018) is all-k3_e6 in a space with its stages;
    torchvision reports 3,504,872 parameters for it."""
    definition = SpaceDefinition(
        name="mobilenet_v2",
        stem_channels=32,
        stem_stride=2,
        first_block=(16, 1, 3),
        stages=(
            Stage(24, 2, 2),
            Stage(32, 3, 2),
            Stage(64, 4, 2),
            Stage(96, 3, 1),
            Stage(160, 3, 2),
            Stage(320, 1, 1),
        ),
        ops=("k3_e6",),
        stage_start_ops=("k3_e6",),
        head_channels=1280,
        default_resolution=224,
        default_classes=1000,
    )
    space = SearchSpace(definition, resolution=224)
    assert network_params(space, ["k3_e6"] * len(space.layers)) == 3_504_872


def test_network_is_sum_of_its_blocks() -> None:
    space = get_space("fbnet")
    arch = space.sample(3)
    assert network_params(space, arch) == sum(block_params(b) for b in space.blocks(arch))
    # A removed layer costs nothing: zero vs a real op differs by exactly that block.
    proxyless = get_space("proxyless")
    base = ["k3_e3"] * len(proxyless.layers)
    removed = list(base)
    removed[1] = "zero"
    block = proxyless.layers[1].block("k3_e3")
    assert block is not None
    assert network_params(proxyless, base) - network_params(proxyless, removed) == block_params(
        block
    )
