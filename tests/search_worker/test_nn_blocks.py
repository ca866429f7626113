"""Block modules: shapes, parameter counts against the closed form, structure of MBConv."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from latency_db.spaces import LogitsBlock, MBConvBlock, SearchSpace, block_params
from search_worker.nn import (
    MixedOp,
    Network,
    PathSelection,
    Supernet,
    build_block,
    init_weights,
    zero_residual_gamma,
)
from search_worker.nn.blocks import ChannelShuffle, MBConv, input_shape


def test_every_candidate_block_has_its_shape_and_closed_form_params(
    space: SearchSpace, n_params: Callable[[nn.Module], int]
) -> None:
    blocks = space.candidate_blocks()
    assert any(isinstance(b, MBConvBlock) and b.groups == 2 for b in blocks.values()) == (
        space.name.startswith("fbnet")
    )
    for key, block in blocks.items():
        module = build_block(block).eval()
        out = module(torch.randn(input_shape(block, 2)))
        if isinstance(block, LogitsBlock):
            assert out.shape == (2, block.num_classes), key
        else:
            assert out.shape == (2, block.out_ch, block.out_hw, block.out_hw), key
        assert n_params(module) == block_params(block), key


def test_expansion_is_skipped_only_for_ungrouped_e1() -> None:
    plain = build_block(MBConvBlock(8, 16, 16, 1, 3, 1))
    assert isinstance(plain, MBConv) and plain.expand is None and plain.shuffle is None
    grouped = build_block(MBConvBlock(8, 16, 24, 1, 5, 2, groups=2))
    assert isinstance(grouped, MBConv) and grouped.expand is not None
    assert isinstance(grouped.shuffle, ChannelShuffle)
    assert grouped.expand.conv.groups == grouped.project.conv.groups == 2
    assert grouped.depthwise.conv.groups == 16
    assert grouped.depthwise.conv.kernel_size == (5, 5) and grouped.depthwise.conv.stride == (2, 2)
    assert isinstance(grouped.depthwise.act, nn.ReLU6) and not hasattr(grouped.project, "act")


def test_channel_shuffle_interleaves_groups() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert ChannelShuffle(2, 6)(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert ChannelShuffle(3, 6)(x).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    with pytest.raises(ValueError, match="groups"):
        ChannelShuffle(4, 6)


def test_residual_only_where_shape_is_kept() -> None:
    x = torch.randn(2, 16, 8, 8)
    for block, residual in (
        (MBConvBlock(8, 16, 16, 3, 3, 1), True),
        (MBConvBlock(8, 16, 24, 3, 3, 1), False),
        (MBConvBlock(8, 16, 16, 3, 3, 2), False),
    ):
        module = build_block(block).eval()
        assert isinstance(module, MBConv)
        nn.init.zeros_(module.project.bn.weight)  # the branch now outputs exactly zero
        out = module(x)
        if residual:
            assert torch.equal(out, x)
        else:
            assert torch.count_nonzero(out) == 0


def test_init_weights_is_seeded(randomize_bn: Callable[..., nn.Module]) -> None:
    block = MBConvBlock(8, 16, 16, 6, 3, 1)
    a = init_weights(randomize_bn(build_block(block), seed=1), seed=7)
    b = init_weights(build_block(block), seed=7)
    c = init_weights(build_block(block), seed=8)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert not torch.equal(
        a.state_dict()["expand.conv.weight"], c.state_dict()["expand.conv.weight"]
    )
    assert torch.equal(a.state_dict()["project.bn.running_var"], torch.ones(16))


def test_unknown_block_type_is_refused() -> None:
    with pytest.raises(TypeError, match="no module"):
        build_block("Conv")  # type: ignore[arg-type]


def test_zero_residual_gamma_starts_every_block_beside_an_identity_as_the_identity(
    proxyless_small: SearchSpace,
) -> None:
    """In a network, each residual branch starts at zero; a block with no identity path keeps
    gamma 1, and so does plain ``init_weights`` (what is exported and timed). In a supernet
    (whose branches add no identity themselves), every path of a shape-keeping layer then
    gives back its input, and no path of another layer does."""
    network = init_weights(Network(proxyless_small, proxyless_small.sample(0)), seed=0)
    blocks = [m for m in network.modules() if isinstance(m, MBConv)]
    assert any(m.beside_identity for m in blocks) and not all(m.beside_identity for m in blocks)
    assert all(bool((m.project.bn.weight == 1).all()) for m in blocks)
    zero_residual_gamma(network)
    for m in blocks:
        gamma = m.project.bn.weight
        assert bool((gamma == 0).all()) if m.beside_identity else bool((gamma == 1).all())
    supernet = zero_residual_gamma(init_weights(Supernet(proxyless_small), seed=0)).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for mixed, layer in zip(supernet.layers, proxyless_small.layers, strict=True):
            assert isinstance(mixed, MixedOp)
            shape = (2, layer.shape.in_ch, layer.shape.in_hw, layer.shape.in_hw)
            x = torch.randn(shape, generator=generator)
            for j in range(len(layer.candidates)):
                out = mixed(x, PathSelection.single(j))
                assert torch.equal(out, x) == layer.shape.keeps_shape, (layer, j)
    x = torch.randn(2, 16, 8, 8)
    beside = zero_residual_gamma(build_block(MBConvBlock(8, 16, 16, 3, 3, 1))).eval()
    assert torch.equal(beside(x), x)
