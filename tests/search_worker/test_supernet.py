"""Supernet forward modes against the standalone network, and where gradients go."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch
from torch import nn

from latency_db.spaces import SearchSpace
from search_worker.nn import MixedOp, PathSelection, Supernet
from search_worker.nn.shared_mbconv import STAGES

PathRun = Callable[[int, torch.Tensor], torch.Tensor]


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
    """(layer, path) -> how often the path ran, counted on each :meth:`MixedOp.path`."""
    calls: dict[tuple[int, int], int] = {}
    for i, mixed in enumerate(net.layers):
        assert isinstance(mixed, MixedOp)
        run = mixed.path

        def counted(index: int, x: torch.Tensor, i: int = i, run: PathRun = run) -> torch.Tensor:
            calls[(i, index)] = calls.get((i, index), 0) + 1
            return run(index, x)

        mixed.path = counted  # type: ignore[method-assign]
    return calls


def _own_parameters(mixed: MixedOp, index: int) -> list[nn.Parameter]:
    """The parameters path ``index`` alone holds: its module's, or its norms in a superkernel."""
    slot = mixed.shared_slot.get(index)
    if slot is None:
        return list(mixed.candidates[str(index)].parameters())
    return list(mixed.get_submodule(f"shared.norms.{slot}").parameters())


def _superkernel_outside(mixed: MixedOp, paths: Sequence[int]) -> list[torch.Tensor]:
    """Each superkernel convolution's gradient with the slices of ``paths`` zeroed: what no
    path that ran may have touched."""
    if mixed.shared is None:
        return []
    shared = mixed.shared
    outside = []
    for stage in STAGES:
        conv = getattr(shared, stage)
        if conv.weight.grad is None:  # no path of the superkernel ran
            continue
        grad = conv.weight.grad.clone()
        for j in paths:
            if j in mixed.shared_slot:
                grad[shared.slices(mixed.shared_slot[j])[stage]] = 0
        outside.append(grad)
    return outside


def _pair_selections(
    supernet: Supernet, straight_through: bool
) -> tuple[torch.Tensor, list[tuple[int, ...]], list[PathSelection]]:
    """Architecture logits over two paths per layer (one where a layer has a single
    candidate), gated softly or by BinaryConnect's one-hot gates (straight-through)."""
    dtype = next(supernet.parameters()).dtype
    alpha = torch.zeros(len(supernet.layers), 2, dtype=dtype, requires_grad=True)
    pairs: list[tuple[int, ...]] = [
        (0, 1) if len(layer.candidates) > 1 else (0,) for layer in supernet.space.layers
    ]
    selections = []
    for i, pair in enumerate(pairs):
        gates = torch.softmax(alpha[i, : len(pair)], 0)
        if straight_through:
            hard = torch.zeros_like(gates)
            hard[-1] = 1.0
            gates = hard - gates.detach() + gates
        selections.append(PathSelection.subset(pair, gates))
    return alpha, pairs, selections


@pytest.mark.parametrize("straight_through", [False, True])
def test_pair_mode_computes_two_paths_and_connects_gradients_to_both(
    supernet: Supernet, straight_through: bool
) -> None:
    """Soft gates, and ProxylessNAS' BinaryConnect one-hot gates over two sampled paths with
    straight-through gradients to the architecture logits: exactly the two paths run, once
    each, and exactly their parameters are in the backward graph (a structural property,
    independent of the values)."""
    supernet.train()
    calls = _count_calls(supernet)
    alpha, pairs, selections = _pair_selections(supernet, straight_through)
    supernet(_input(supernet), selections).square().mean().backward()
    assert set(calls) == {(i, j) for i, pair in enumerate(pairs) for j in pair}
    assert all(count == 1 for count in calls.values())
    assert alpha.grad is not None
    for i, mixed in enumerate(supernet.layers):
        assert isinstance(mixed, MixedOp)
        for j in range(len(mixed.tokens)):
            for p in _own_parameters(mixed, j):
                assert (p.grad is not None) == (j in pairs[i]), (i, j)
        assert all(not grad.any() for grad in _superkernel_outside(mixed, pairs[i])), i


@pytest.mark.parametrize("straight_through", [False, True])
def test_pair_mode_gradients_are_not_zero(supernet: Supernet, straight_through: bool) -> None:
    """Every gate, and the weights of every path that carries weight, get a gradient that is
    not zero (per path, not per tensor: a batch-norm bias feeding another training-mode batch
    norm through a linear map has an analytically zero gradient). Batch 8 in float64: with
    batch norm over 2 samples at 1x1 spatial size (the last stages) the normalised output is
    +-1 whatever its input, so the gradients before it are analytically zero and whether they
    round to exactly 0 depends on the CPU kind and the thread count; with 8 samples they are
    far from zero, and float64 keeps rounding out."""
    supernet.double().train()
    alpha, pairs, selections = _pair_selections(supernet, straight_through)
    supernet(_input(supernet, batch=8).double(), selections).square().mean().backward()
    assert alpha.grad is not None
    assert torch.all(alpha.grad[:, 0].abs() > 1e-9), alpha.grad[:, 0]
    for i, mixed in enumerate(supernet.layers):
        assert isinstance(mixed, MixedOp)
        for j in pairs[i]:
            if straight_through and j == 0 and len(pairs[i]) == 2:
                continue  # BinaryConnect gates this path off: its weights get exactly 0
            grads = [p.grad for p in _own_parameters(mixed, j)]
            assert all(g is not None for g in grads), (i, j)
            assert max(float(g.abs().max()) for g in grads if g is not None) > 1e-9, (i, j)


def test_one_path_leaves_other_paths_without_gradients(supernet: Supernet) -> None:
    supernet.train()
    arch = supernet.space.sample(2)
    chosen = supernet.space.indices(arch)
    supernet(_input(supernet), supernet.select(arch)).sum().backward()
    for i, mixed in enumerate(supernet.layers):
        assert isinstance(mixed, MixedOp)
        for j in range(len(mixed.tokens)):
            for p in _own_parameters(mixed, j):
                assert (p.grad is not None) == (j == chosen[i]), (i, j)
        assert all(not grad.any() for grad in _superkernel_outside(mixed, [chosen[i]])), i
    assert all(p.grad is not None for p in supernet.stem.parameters())
    assert all(p.grad is not None for p in supernet.classifier.parameters())


def test_extract_copies_weights(proxyless_small: SearchSpace) -> None:
    supernet = Supernet(proxyless_small)
    arch = proxyless_small.sample(0)
    network = supernet.extract(arch)
    key = "layers.3.depthwise.conv.weight"
    copied = dict(network.named_parameters())[key]
    mixed = supernet.layers[3]
    assert isinstance(mixed, MixedOp)
    original = mixed.candidate_state(proxyless_small.indices(arch)[3])[key[9:]]
    assert torch.equal(copied, original)
    with torch.no_grad():
        copied.add_(1.0)
    assert not torch.equal(copied, original)


def test_inverted_residuals_of_a_layer_are_slices_of_one_superkernel(
    proxyless_small: SearchSpace,
) -> None:
    """Single-Path NAS' superkernel: in the first layer of a stage (no identity path), the
    3x3 expand-3 candidate's convolutions are the centre 3x3 and the first in_ch * 3 hidden
    channels of the 7x7 expand-6 candidate's; their batch norms are their own."""
    i = next(i for i, layer in enumerate(proxyless_small.layers) if not layer.shape.keeps_shape)
    layer = proxyless_small.layers[i]
    supernet = Supernet(proxyless_small)
    base = proxyless_small.sample(0)
    small = supernet.extract([*base[:i], "k3_e3", *base[i + 1 :]]).layers[i].state_dict()
    large = supernet.extract([*base[:i], "k7_e6", *base[i + 1 :]]).layers[i].state_dict()
    hidden = layer.shape.in_ch * 3
    assert torch.equal(small["expand.conv.weight"], large["expand.conv.weight"][:hidden])
    centre = large["depthwise.conv.weight"][:hidden, :, 2:5, 2:5]
    assert torch.equal(small["depthwise.conv.weight"], centre)
    assert torch.equal(small["project.conv.weight"], large["project.conv.weight"][:, :hidden])
    shared = supernet.get_submodule(f"layers.{i}.shared")
    norms = [n.weight.data_ptr() for n in shared.modules() if isinstance(n, nn.BatchNorm2d)]
    assert len(set(norms)) == 3 * len(layer.candidates)


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


@pytest.mark.parametrize("residual", [True, False])
def test_gdas_gate_gradient_is_the_papers(proxyless_small: SearchSpace, residual: bool) -> None:
    """GDAS (Dong and Yang, CVPR 2019) runs the chosen op j alone, scaled by a straight-through
    gate h_j of value 1, on the op's own output: out = x + h_j y_j where the layer keeps its
    shape (the identity path outside the gate), h_j y_j where it does not. So dL/dh_j =
    <dL/dout, y_j>, and exactly 0 for ``zero`` (y = 0)."""
    layer = next(lay for lay in proxyless_small.layers if lay.shape.keeps_shape == residual)
    torch.manual_seed(0)
    op = MixedOp(layer).double().train()
    generator = torch.Generator().manual_seed(5)
    shape = (4, layer.shape.in_ch, layer.shape.in_hw, layer.shape.in_hw)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    for j, token in enumerate(layer.candidates):
        gate = torch.ones(1, dtype=torch.float64, requires_grad=True)
        out = op(x, PathSelection.subset((j,), gate))
        upstream = torch.randn(out.shape, generator=generator, dtype=torch.float64)
        (out * upstream).sum().backward()
        with torch.no_grad():
            whole = op(x, PathSelection.single(j))  # the layer's output with op j
            y = whole - x if residual else whole
        assert gate.grad is not None
        if token == "zero":
            assert float(gate.grad) == 0.0
        else:
            torch.testing.assert_close(gate.grad, (upstream * y).sum().reshape(1))
