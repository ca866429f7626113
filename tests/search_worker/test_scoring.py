"""Candidates are scored on a held-out split with recalibrated batch norm (Once-for-All)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from latency_db.spaces import SearchSpace
from search_worker.data import load_search_data
from search_worker.nn import Supernet
from search_worker.search.scoring import Scoring, recalibrated, score


def test_the_score_split_is_held_out_from_both_steps(tiny_imagenet: Path) -> None:
    data = load_search_data(tiny_imagenet, 16, 0.5, 8, seed=3)
    parts = [set(s.indices.tolist()) for s in (data.score, data.arch, data.weight)]
    assert sum(len(p) for p in parts) == len(set.union(*parts)) == len(data.train.indices)
    assert len(parts[0]) == round(0.1 * len(data.train.indices))
    assert len(parts[1]) == round(0.5 * (len(data.train.indices) - len(parts[0])))
    assert not data.score.augment


def _batches(space: SearchSpace, n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    shape = (8, 3, space.resolution, space.resolution)
    return [
        (torch.randn(shape, generator=generator), torch.randint(10, (8,), generator=generator))
        for _ in range(n)
    ]


def test_recalibration_averages_the_calibration_batches_and_leaves_the_supernet(
    proxyless_small: SearchSpace, randomize_bn: Callable[..., nn.Module]
) -> None:
    supernet = randomize_bn(Supernet(proxyless_small))
    for module in supernet.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.num_batches_tracked.fill_(100)  # as after training
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    batches = _batches(proxyless_small, 3, seed=0)
    arch = proxyless_small.indices(proxyless_small.sample(1))
    network = recalibrated(supernet, arch, batches)
    assert not network.training
    with torch.no_grad():  # the stem's BN sees the stem conv's output
        means = [network.stem.conv(x).mean(dim=(0, 2, 3)) for x, _ in batches]
    torch.testing.assert_close(network.stem.bn.running_mean, torch.stack(means).mean(0))
    for key, value in supernet.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_a_score_does_not_depend_on_how_the_images_are_batched(
    proxyless_small: SearchSpace, randomize_bn: Callable[..., nn.Module]
) -> None:
    """Eval-mode BN: an image's prediction is its own, not its batch's."""
    supernet = randomize_bn(Supernet(proxyless_small))
    calibration = _batches(proxyless_small, 2, seed=1)
    (x, y), *_ = _batches(proxyless_small, 1, seed=2)
    arch = proxyless_small.indices(proxyless_small.sample(2))
    whole = score(supernet, arch, Scoring(calibration, [(x, y)]))
    halves = score(supernet, arch, Scoring(calibration, [(x[:3], y[:3]), (x[3:], y[3:])]))
    assert whole == halves
    network = recalibrated(supernet, arch, calibration)
    with torch.no_grad():
        assert whole == float((network(x).argmax(1) == y).float().mean())
