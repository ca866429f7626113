"""Supernet forward modes against the standalone network, and where gradients go."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from latency_db.spaces import SearchSpace
from search_worker.nn import MixedOp, PathSelection, Supernet


@pytest.fixture
def supernet(space: SearchSpace, randomize_bn: Callable[..., nn.Module]) -> Supernet:
    torch.manual_seed(0)
    net = Supernet(space)
    randomize_bn(net, seed=1)
    return net


def _input(net: Supernet, batch: int = 2) -> torch.Tensor:
    return torch.randn(net.input_shape(batch), generator=torch.Generator().manual_seed(3))


def test_one_path_equals_extracted_network(supernet: Supernet) -> None:
    supernet.eval()
    x = _input(supernet)
    with torch.no_grad():
        for seed in range(3):
            arch = supernet.space.sample(seed)
            network = supernet.extract(arch)
            assert not network.training
            assert torch.equal(supernet(x, supernet.select(arch)), network(x))


def test_one_hot_mixture_equals_one_path(supernet: Supernet) -> None:
    supernet.eval()
    x = _input(supernet)
    indices = supernet.space.indices(supernet.space.sample(4))
    mixture = [
        PathSelection.mixture(nn.functional.one_hot(torch.tensor(j), len(layer.candidates)).float())
        for j, layer in zip(indices, supernet.space.layers, strict=True)
    ]
    with torch.no_grad():
        assert torch.equal(supernet(x, mixture), supernet(x, supernet.select(indices)))


def test_mixed_op_weighted_sum_and_subset(proxyless_small: SearchSpace) -> None:
    layer = proxyless_small.layers[1]
    op = MixedOp(layer).eval()
    x = torch.randn(2, layer.shape.in_ch, layer.shape.in_hw, layer.shape.in_hw)
    w = torch.softmax(torch.randn(len(layer.candidates)), 0)
    with torch.no_grad():
        paths = [op(x, PathSelection.single(j)) for j in range(len(layer.candidates))]
        expected = sum(wj * p for wj, p in zip(w, paths, strict=True))
        torch.testing.assert_close(op(x, PathSelection.mixture(w)), expected)
        pair = op(x, PathSelection.subset((2, 6), torch.tensor([0.25, 0.75])))
        torch.testing.assert_close(pair, 0.25 * paths[2] + 0.75 * x)  # token 6 is `zero`


def _count_calls(net: Supernet) -> dict[tuple[int, int], int]:
    calls: dict[tuple[int, int], int] = {}
    for i, mixed in enumerate(net.layers):
        assert isinstance(mixed, MixedOp)
        for j, candidate in enumerate(mixed.candidates):

            def hook(*_: object, key: tuple[int, int] = (i, j)) -> None:
                calls[key] = calls.get(key, 0) + 1

            candidate.register_forward_hook(hook)
    return calls


@pytest.mark.parametrize("straight_through", [False, True])
def test_pair_mode_computes_two_paths_and_sends_gradients_to_both(
    supernet: Supernet, straight_through: bool
) -> None:
    """Soft gates, and ProxylessNAS' BinaryConnect one-hot gates over two sampled paths with
    straight-through gradients to the architecture logits."""
    supernet.train()
    calls = _count_calls(supernet)
    alpha = torch.zeros(len(supernet.layers), 2, requires_grad=True)
    pairs = [(0, 1) if len(layer.candidates) > 1 else (0,) for layer in supernet.space.layers]
    selections = []
    for i, pair in enumerate(pairs):
        gates = torch.softmax(alpha[i, : len(pair)], 0)
        if straight_through:
            hard = torch.zeros_like(gates)
            hard[-1] = 1.0
            gates = hard - gates.detach() + gates
        selections.append(PathSelection.subset(pair, gates))
    supernet(_input(supernet), selections).square().mean().backward()
    assert set(calls) == {(i, j) for i, pair in enumerate(pairs) for j in pair}
    assert all(count == 1 for count in calls.values())
    assert alpha.grad is not None and torch.count_nonzero(alpha.grad[:, 0]) == len(pairs)
    for i, mixed in enumerate(supernet.layers):
        assert isinstance(mixed, MixedOp)
        for j, candidate in enumerate(mixed.candidates):
            for p in candidate.parameters():
                assert (p.grad is not None) == (j in pairs[i]), (i, j)
                gated_off = straight_through and j == 0 and len(pairs[i]) == 2
                if p.grad is not None and not gated_off:
                    assert torch.count_nonzero(p.grad) > 0, (i, j)


def test_one_path_leaves_other_paths_without_gradients(supernet: Supernet) -> None:
    supernet.train()
    arch = supernet.space.sample(2)
    chosen = supernet.space.indices(arch)
    supernet(_input(supernet), supernet.select(arch)).sum().backward()
    for i, mixed in enumerate(supernet.layers):
        assert isinstance(mixed, MixedOp)
        for j, candidate in enumerate(mixed.candidates):
            for p in candidate.parameters():
                assert (p.grad is not None) == (j == chosen[i]), (i, j)
    assert all(p.grad is not None for p in supernet.stem.parameters())
    assert all(p.grad is not None for p in supernet.classifier.parameters())


def test_extract_copies_weights(proxyless_small: SearchSpace) -> None:
    supernet = Supernet(proxyless_small)
    arch = proxyless_small.sample(0)
    network = supernet.extract(arch)
    key = "layers.3.depthwise.conv.weight"
    copied = dict(network.named_parameters())[key]
    chosen = proxyless_small.indices(arch)[3]
    original = dict(supernet.named_parameters())[f"layers.3.candidates.{chosen}.{key[9:]}"]
    assert torch.equal(copied, original)
    with torch.no_grad():
        copied.add_(1.0)
    assert not torch.equal(copied, original)


def test_bad_selections_are_refused(proxyless_small: SearchSpace) -> None:
    supernet = Supernet(proxyless_small)
    x = torch.randn(supernet.input_shape(1))
    with pytest.raises(ValueError, match="selections"):
        supernet(x, supernet.select(proxyless_small.sample(0))[:-1])
    with pytest.raises(ValueError, match="need weights"):
        PathSelection((0, 1))
    with pytest.raises(ValueError, match="distinct"):
        PathSelection.subset((1, 1), torch.ones(2))
    with pytest.raises(ValueError, match="expected 2 path weights"):
        PathSelection.subset((0, 1), torch.ones(3))
    selections = supernet.select(proxyless_small.sample(0))
    selections[0] = PathSelection.single(9)
    with pytest.raises(IndexError, match="out of range"):
        supernet(x, selections)
