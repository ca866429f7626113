"""The weight-training recipe shared by the supernet and standalone networks: warm-up then
cosine learning rate, clipped gradients."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from search_worker.search.weight_training import (
    GRAD_CLIP,
    learning_rate,
    sgd_step,
    weight_optimizer,
)


def test_the_learning_rate_warms_up_over_a_tenth_of_the_steps_then_follows_a_cosine() -> None:
    rates = [learning_rate(0.1, step, 100) for step in range(100)]
    assert rates[:10] == pytest.approx([0.01 * (i + 1) for i in range(10)])
    assert max(rates) == pytest.approx(0.1)
    assert rates[10] == pytest.approx(0.1)
    assert rates[55] == pytest.approx(0.5 * 0.1 * (1 + math.cos(math.pi * 45 / 90)))
    assert all(b <= a for a, b in itertools.pairwise(rates[10:]))
    assert 0 < rates[-1] < 0.001


def test_one_step_and_a_resumed_step_get_a_defined_rate() -> None:
    assert learning_rate(0.05, 0, 1) == pytest.approx(0.05)
    assert learning_rate(0.05, 5, 3) == pytest.approx(0.0)  # past the end: no negative rate


def test_a_step_clips_the_gradient_norm() -> None:
    layer = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(layer.weight)
    optimizer = weight_optimizer(layer.parameters(), lr=1.0)
    loss = 1e6 * layer(torch.ones(1, 4)).sum()  # gradient norm 2e6
    sgd_step(optimizer, layer, loss)
    # Nesterov's first step moves by (1 + momentum) times the clipped gradient
    assert float(layer.weight.norm()) == pytest.approx(1.9 * GRAD_CLIP, rel=1e-4)
