"""Every registered estimator drives a toy space to its known best architecture."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch

from latency_db.predictors import Layout, LutPredictor
from latency_db.predictors.encoding import LayerTable
from search_worker.latency import AdditiveLatency
from search_worker.nn.supernet import PathSelection
from search_worker.oracle import PredictorOracle
from search_worker.oracle.base import Arch
from search_worker.search.distribution import ArchitectureLogits
from search_worker.search.estimators import ESTIMATORS, EstimatorConfig, create_estimator
from search_worker.search.losses import LatencyForm, LatencyLoss
from search_worker.search.problem import ArchitectureProblem, Candidate, single_paths

COUNTS = (3, 2, 3)
# accuracy loss per (layer, op) and latency per (layer, op): op 0 of layer 0 is the most
# accurate but so slow that with the latency term op 1 wins there
COST = torch.tensor([[0.0, 0.3, 1.0], [0.5, 0.0, 0.0], [0.2, 1.0, 0.0]])
LATENCY = np.array([[10.0, 2.0, 1.0], [1.0, 1.0, 0.0], [5.0, 5.0, 5.0]])
BUDGET_MS = 10.0
BEST = [1, 1, 2]


def toy_loss(selections: Sequence[PathSelection]) -> torch.Tensor:
    total = torch.zeros(())
    for layer, selection in enumerate(selections):
        weights = torch.ones(1) if selection.weights is None else selection.weights
        for index, weight in zip(selection.indices, weights, strict=True):
            total = total + weight * COST[layer, index]
    return total


class LaggingOracle(PredictorOracle):
    """Answers each request three polls later (the delayed path; its bias under longer delays
    is tested in test_delayed_latency.py)."""

    def __init__(self, predictor: LutPredictor) -> None:
        super().__init__(predictor)
        self.waiting: dict[Arch, int] = {}

    def _start(self, arch: Arch) -> None:
        self.waiting.setdefault(arch, 0)
        return None

    def _poll(self) -> None:
        for arch in list(self.waiting):
            self.waiting[arch] += 1
            if self.waiting[arch] >= 3:
                del self.waiting[arch]
                self._record(arch, super()._start(arch))


def toy_problem(lagging: bool) -> ArchitectureProblem:
    table = LayerTable("toy", Layout(COUNTS), 0.0, LATENCY)
    predictor = LutPredictor(table)
    oracle = LaggingOracle(predictor) if lagging else PredictorOracle(predictor)
    return ArchitectureProblem(
        loss=toy_loss,
        accuracy=lambda arch: -float(toy_loss(single_paths(arch))),
        latency=AdditiveLatency(predictor),
        latency_loss=LatencyLoss(LatencyForm.ADD_LINEAR, 1.0, BUDGET_MS),
        oracle=oracle,
    )


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimator_finds_the_best_toy_architecture(name: str) -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    logits = ArchitectureLogits(Layout(COUNTS))
    config = EstimatorConfig(arch_lr=0.1, tau_anneal_steps=300, candidates=30)
    estimator = create_estimator(name, logits, config)
    problem = toy_problem(lagging=name in ("reinforce", "unas"))
    if estimator.trains_architecture:
        for step in range(400):
            estimator.weight_selections(step, generator)
            estimator.architecture_step(problem, step, generator)
    best = estimator.derive(problem, generator)[0]
    assert list(best.arch) == BEST, (name, logits.probs())
    if estimator.trains_architecture:
        assert logits.probs()[torch.arange(3), BEST].min() > 0.6


def test_mul_log_is_refused_by_measured_latency_estimators() -> None:
    logits = ArchitectureLogits(Layout(COUNTS))
    problem = toy_problem(lagging=False)
    problem.latency_loss = LatencyLoss(LatencyForm.MUL_LOG, 0.6, BUDGET_MS)
    estimator = create_estimator("reinforce", logits, EstimatorConfig())
    with pytest.raises(ValueError, match="separable"):
        estimator.architecture_step(problem, 0, torch.Generator().manual_seed(0))


def test_unknown_estimator_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="darts"):
        create_estimator("nope", ArchitectureLogits(Layout(COUNTS)), EstimatorConfig())


@pytest.mark.parametrize("name", ["proxyless", "unas", "gdas"])
def test_derive_adds_samples_within_budget_when_the_argmax_is_predicted_over(name: str) -> None:
    """The argmax (op 0 everywhere: 16 ms) is over a 10 ms budget: the finalists are it and
    the most accurate distinct samples of the final distribution predicted within budget."""
    logits = ArchitectureLogits(Layout(COUNTS))
    with torch.no_grad():
        logits.alpha[0, 0] = 1.0
    config = EstimatorConfig(candidates=400, finalists=3)
    estimator = create_estimator(name, logits, config)
    problem = toy_problem(lagging=False)
    argmax, *others = estimator.derive(problem, torch.Generator().manual_seed(0))
    assert argmax.arch == (0, 0, 0) and argmax.predicted_ms > BUDGET_MS
    assert len(others) == 3 and len({c.arch for c in others}) == 3
    assert all(c.predicted_ms <= BUDGET_MS for c in others)
    assert [c.accuracy for c in others] == sorted((c.accuracy for c in others), reverse=True)
    assert others[0].arch == tuple(BEST)  # the most accurate within budget, surely drawn


def derive_leaning_to_best(name: str, logit: float, budget_ms: float) -> list[Candidate]:
    """Derive from logits ``logit`` on BEST's ops (0 elsewhere) under ``budget_ms``."""
    logits = ArchitectureLogits(Layout(COUNTS))
    with torch.no_grad():
        logits.alpha[torch.arange(3), torch.tensor(BEST)] = logit
    estimator = create_estimator(name, logits, EstimatorConfig(candidates=400))
    problem = toy_problem(lagging=False)
    problem.latency_loss = LatencyLoss(LatencyForm.ADD_LINEAR, 1.0, budget_ms)
    return estimator.derive(problem, torch.Generator().manual_seed(0))


def test_derive_returns_the_argmax_alone_when_it_is_predicted_near_the_budget() -> None:
    """BEST is predicted at 8 ms: 0.94x of an 8.5 ms budget."""
    derived = derive_leaning_to_best("unas", logit=1.0, budget_ms=8.5)
    assert [c.arch for c in derived] == [tuple(BEST)]


def test_derive_aims_at_the_budget_when_the_argmax_leaves_it_unused() -> None:
    """BEST (8 ms) uses 0.47x of a 17 ms budget; only op 0 of layer 0 (16 ms) lands at
    0.9-1.0x, and the final distribution almost never draws it (p ~ 3e-4): the finalists are
    the argmax and samples of the flattened distribution predicted at 0.9-1.0x."""
    argmax, *others = derive_leaning_to_best("proxyless", logit=8.0, budget_ms=17.0)
    assert argmax.arch == tuple(BEST)
    assert others and all(0.9 * 17.0 <= c.predicted_ms <= 17.0 for c in others)
    assert all(c.arch[0] == 0 for c in others) and len({c.arch for c in others}) == len(others)


@pytest.mark.parametrize(("tied", "relaxed_passes"), [(False, 2), (True, 1)])
def test_unas_tied_variant_runs_one_relaxed_pass_per_step(tied: bool, relaxed_passes: int) -> None:
    """The all-path (relaxed) network runs at z and z~ per architecture step, or once when
    the spec asks for the tied variant, which still finds the toy's best architecture."""
    passes: list[int] = []

    def counting_loss(selections: Sequence[PathSelection]) -> torch.Tensor:
        if any(s.weights is not None and len(s.indices) > 1 for s in selections):
            passes[-1] += 1
        return toy_loss(selections)

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    logits = ArchitectureLogits(Layout(COUNTS))
    config = EstimatorConfig(arch_lr=0.1, tau_anneal_steps=300, rebar_tied=tied)
    estimator = create_estimator("unas", logits, config)
    problem = toy_problem(lagging=True)
    problem.loss = counting_loss
    for step in range(400):
        passes.append(0)
        estimator.architecture_step(problem, step, generator)
    assert set(passes) == {relaxed_passes}
    assert logits.argmax() == BEST and logits.probs()[torch.arange(3), BEST].min() > 0.6
