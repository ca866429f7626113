"""Baselines on a supernet trained by uniform single-path sampling (SPOS, Guo et al., ECCV
2020): no distribution is learned; at the end candidates are drawn under the latency budget
(by the predictor), ranked by supernet accuracy, and the best few measured on the device.

- ``random``: uniform random candidates (the baseline of Li and Talwalkar, UAI 2019);
- ``evolution``: aging evolution (Real et al., AAAI 2019): tournament parent, one-layer
  mutation, the oldest member dies.
"""

from __future__ import annotations

import random
from collections import deque

import torch

from search_worker.nn.supernet import PathSelection
from search_worker.search.estimators.base import Estimator, register_estimator
from search_worker.search.problem import ArchitectureProblem, Candidate, single_paths

_DRAWS_PER_CANDIDATE = 50


class SupernetBaseline(Estimator):
    trains_architecture = False

    def weight_selections(self, step: int, generator: torch.Generator) -> list[PathSelection]:
        return single_paths(self.logits.uniform_sample(generator))

    def backward(
        self, problem: ArchitectureProblem, step: int, generator: torch.Generator
    ) -> dict[str, float]:
        raise RuntimeError(f"{self.name} trains no architecture distribution")

    def draw(self, rng: random.Random) -> tuple[int, ...]:
        return tuple(rng.randrange(count) for count in self.counts)

    def draw_under_budget(
        self, problem: ArchitectureProblem, rng: random.Random
    ) -> tuple[int, ...]:
        """A uniform draw whose predicted latency meets the budget (the fastest of the tries
        when none does)."""
        tries = [self.draw(rng) for _ in range(_DRAWS_PER_CANDIDATE)]
        predicted = problem.predicted_ms(torch.tensor(tries))
        ok = [
            a
            for a, ms in zip(tries, predicted.tolist(), strict=True)
            if ms <= problem.latency_loss.budget_ms
        ]
        return ok[0] if ok else tries[int(predicted.argmin())]

    def finalists(
        self, problem: ArchitectureProblem, evaluated: list[Candidate]
    ) -> list[Candidate]:
        """Best accuracy first among those under the budget (all, if none is)."""
        budget = problem.latency_loss.budget_ms
        under = [c for c in evaluated if c.predicted_ms <= budget] or evaluated
        return sorted(under, key=lambda c: -c.accuracy)[: self.config.finalists]


def python_rng(generator: torch.Generator) -> random.Random:
    return random.Random(int(torch.randint(2**31 - 1, (1,), generator=generator)))


@register_estimator("random")
class RandomSearch(SupernetBaseline):
    def derive(self, problem: ArchitectureProblem, generator: torch.Generator) -> list[Candidate]:
        rng = python_rng(generator)
        archs = dict.fromkeys(
            self.draw_under_budget(problem, rng) for _ in range(self.config.candidates)
        )
        return self.finalists(problem, [problem.evaluate(a) for a in archs])


@register_estimator("evolution")
class AgingEvolution(SupernetBaseline):
    def mutate(
        self, problem: ArchitectureProblem, parent: tuple[int, ...], rng: random.Random
    ) -> tuple[int, ...]:
        """Change one layer's op, preferring children the predictor puts under the budget."""
        children = []
        for _ in range(_DRAWS_PER_CANDIDATE):
            layer = rng.randrange(len(parent))
            if self.counts[layer] < 2:
                continue
            op = rng.choice([j for j in range(self.counts[layer]) if j != parent[layer]])
            children.append((*parent[:layer], op, *parent[layer + 1 :]))
        if not children:
            return parent
        predicted = problem.predicted_ms(torch.tensor(children)).tolist()
        budget = problem.latency_loss.budget_ms
        ok = [c for c, ms in zip(children, predicted, strict=True) if ms <= budget]
        return ok[0] if ok else children[0]

    def derive(self, problem: ArchitectureProblem, generator: torch.Generator) -> list[Candidate]:
        rng = python_rng(generator)
        population: deque[Candidate] = deque()
        history: list[Candidate] = []
        while len(history) < self.config.candidates:
            if len(population) < self.config.population:
                child = self.draw_under_budget(problem, rng)
            else:
                contenders = rng.sample(
                    list(population), min(self.config.tournament, len(population))
                )
                parent = max(contenders, key=lambda c: c.accuracy)
                child = self.mutate(problem, parent.arch, rng)
                population.popleft()
            evaluated = problem.evaluate(child)
            population.append(evaluated)
            history.append(evaluated)
        unique = {c.arch: c for c in history}
        return self.finalists(problem, list(unique.values()))
