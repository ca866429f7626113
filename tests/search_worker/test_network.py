"""Standalone networks: output shapes, parameter counts, the submodule-name contract."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from latency_db.spaces import SearchSpace, get_space, network_params
from search_worker.nn import Network


def test_proxyless_at_224(n_params: Callable[[nn.Module], int]) -> None:
    space = get_space("proxyless", resolution=224)
    arch = space.sample(0)
    network = Network(space, arch).eval()
    with torch.no_grad():
        assert network(torch.randn(network.input_shape(1))).shape == (1, 1000)
    assert n_params(network) == network_params(space, arch)


@pytest.mark.parametrize("resolution", [32, 64])
def test_random_architectures_shapes_and_params(
    resolution: int, n_params: Callable[[nn.Module], int]
) -> None:
    for name in ("proxyless", "fbnet", "fbnet-cifar100"):
        space = get_space(name, resolution=resolution, width_mult=0.35, num_classes=10)
        for seed in range(4):
            arch = space.sample(seed)
            network = Network(space, arch).eval()
            with torch.no_grad():
                out = network(torch.randn(network.input_shape(2)))
            assert out.shape == (2, 10), (name, arch)
            assert n_params(network) == network_params(space, arch), (name, arch)


def test_full_width_fbnet_params_with_grouped_ops(n_params: Callable[[nn.Module], int]) -> None:
    space = get_space("fbnet", resolution=64)
    for arch in (("k3_e1_g2",) * 22, ("k5_e1_g2",) * 22, ("skip",) * 22, space.sample(5)):
        assert n_params(Network(space, arch)) == network_params(space, arch)


def test_submodule_names_and_identity_layers(proxyless_small: SearchSpace) -> None:
    space = proxyless_small
    arch = list(space.sample(1))
    arch[1], arch[2] = "zero", "k5_e6"
    network = Network(space, arch)
    names = [name for name, _ in network.named_children()]
    assert names == ["stem", "fixed", "layers", "feature_mix", "classifier"]
    assert len(network.layers) == len(space.layers)
    assert isinstance(network.layers[1], nn.Identity)
    assert not isinstance(network.layers[2], nn.Identity)
    assert "layers.2.depthwise.conv.weight" in network.state_dict()


def test_fbnet_skip_is_identity_or_projection() -> None:
    space = get_space("fbnet", resolution=32, width_mult=0.35, num_classes=10)
    network = Network(space, ["skip"] * len(space.layers))
    for layer, module in zip(space.layers, network.layers, strict=True):
        assert isinstance(module, nn.Identity) == layer.shape.keeps_shape


def test_invalid_architecture_is_refused(proxyless_small: SearchSpace) -> None:
    with pytest.raises(ValueError, match="layer 0"):
        Network(proxyless_small, ["zero"] * len(proxyless_small.layers))
