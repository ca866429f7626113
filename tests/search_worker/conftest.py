"""Small space instances and helpers for the torch tests of search_worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

from latency_db.spaces import SearchSpace, get_space

SMALL_SPACES = {
    "proxyless": dict(resolution=32, width_mult=0.35, num_classes=10),
    "fbnet": dict(resolution=32, width_mult=0.35, num_classes=10),
    "fbnet-cifar100": dict(resolution=32, width_mult=0.5, num_classes=100),
}


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Torch runs these tiny networks on one thread whatever ``OMP_NUM_THREADS`` says, so no
    result depends on the thread count. At two threads on a busy two-core machine, OpenMP
    threads waiting on each other at every small op made this package ~37x slower (a resumed
    search ran over 600 s instead of 4 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_space(name: str) -> SearchSpace:
    return get_space(name, **SMALL_SPACES[name])  # type: ignore[arg-type]


@pytest.fixture(params=sorted(SMALL_SPACES))
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return small_space(request.param)


@pytest.fixture
def proxyless_small() -> SearchSpace:
    return small_space("proxyless")


def _randomize_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random affine parameters and running statistics (eval-mode BN is
    then a non-trivial affine map, so exports that fold it are really checked)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=generator))
                m.bias.copy_(0.1 * torch.randn(n, generator=generator))
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
    return module


@pytest.fixture
def randomize_bn() -> Callable[..., nn.Module]:
    return _randomize_bn


@pytest.fixture
def n_params() -> Callable[[nn.Module], int]:
    return lambda module: sum(p.numel() for p in module.parameters())
