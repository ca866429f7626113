"""The estimator interface and its registry (design section 6).

A search step has a weight step (selections from :meth:`Estimator.weight_selections`) and,
unless the estimator trains no distribution, an architecture step: :meth:`Estimator.backward`
puts the gradient estimate on the logits, the optimizer steps, :meth:`Estimator.after_step`
may adjust. Variants override one hook of their parent. The architecture optimizer is Adam
with beta1 = 0, as in ProxylessNAS (Cai et al., ICLR 2019): a logit whose gradient is zero
this step does not move.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch

from search_worker.nn.supernet import PathSelection
from search_worker.search.distribution import ArchitectureLogits
from search_worker.search.problem import ArchitectureProblem, Candidate, single_paths


@dataclass(frozen=True)
class EstimatorConfig:
    """Hyper-parameters shared by the estimators (each reads the ones it needs)."""

    arch_lr: float = 0.05
    tau_start: float = 5.0  # relaxation temperature, annealed exponentially (FBNet, SNAS)
    tau_end: float = 0.5
    tau_first_step: int = 0  # the first architecture step (after the warm-up): tau_start
    tau_anneal_steps: int = 1000  # steps from tau_start to tau_end
    baseline_decay: float = 0.9  # REINFORCE moving-average baseline
    importance_cap: float = 5.0  # truncation of delayed samples' importance weights
    max_staleness: int = 200  # steps after which a delayed measurement is dropped
    max_pending: int = 4  # measurements in flight on average (sampled.py: keep probability)
    rebar_scale: float = 1.0  # eta of the REBAR control variate for the CE term (UNAS)
    rebar_tied: bool = False  # UNAS: one relaxed pass per step, z~ := z (tied_relax)
    candidates: int = 100  # random / evolution: candidates evaluated; others: samples at derive
    population: int = 20  # evolution
    tournament: int = 5  # evolution
    finalists: int = 3  # best candidates measured on the device

    def tau(self, step: int) -> float:
        """The temperature at search step ``step`` (the warm-up does not count)."""
        progress = min(1.0, max(0, step - self.tau_first_step) / max(1, self.tau_anneal_steps))
        return float(self.tau_start * (self.tau_end / self.tau_start) ** progress)


AIM = 0.9  # a derived network aims at AIM-1.0x of the budget (issue 17, defect 6)
AIM_TEMPERATURES = (1.0, 2.0, 4.0)


def aimed(latency_ms: float, budget_ms: float) -> bool:
    """Whether a latency is at AIM-1.0x of the budget."""
    return AIM * budget_ms <= latency_ms <= budget_ms


class Estimator(ABC):
    name: ClassVar[str]
    trains_architecture: ClassVar[bool] = True

    def __init__(self, logits: ArchitectureLogits, config: EstimatorConfig) -> None:
        self.logits = logits
        self.config = config
        self.optimizer = torch.optim.Adam(
            logits.parameters(), lr=config.arch_lr, betas=(0.0, 0.999)
        )

    @property
    def counts(self) -> tuple[int, ...]:
        return self.logits.layout.counts

    def weight_selections(self, step: int, generator: torch.Generator) -> list[PathSelection]:
        """One path per layer sampled from the current distribution (default)."""
        return single_paths(self.logits.sample(generator))

    def architecture_step(
        self, problem: ArchitectureProblem, step: int, generator: torch.Generator
    ) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=False)
        metrics = self.backward(problem, step, generator)
        self.optimizer.step()
        self.after_step()
        return metrics

    @abstractmethod
    def backward(
        self, problem: ArchitectureProblem, step: int, generator: torch.Generator
    ) -> dict[str, float]:
        """Accumulate the architecture gradient on ``self.logits.alpha``; return metrics."""

    def after_step(self) -> None:  # noqa: B027 - optional hook
        """Adjust the logits after the optimizer step (default: nothing)."""

    def derive(self, problem: ArchitectureProblem, generator: torch.Generator) -> list[Candidate]:
        """Final candidates, best first: the argmax architecture; unless the predictor puts
        it at 0.9-1.0x of the budget, also the ``finalists`` most accurate of ``candidates``
        samples of the final distribution that it puts there (:func:`aimed`). All are
        measured; the most accurate measured there, else within budget, wins."""
        argmax = problem.evaluate(tuple(self.logits.argmax()))
        if aimed(argmax.predicted_ms, problem.latency_loss.budget_ms):
            return [argmax]
        return [argmax, *self.samples_near_budget(problem, generator)]

    def samples_near_budget(
        self, problem: ArchitectureProblem, generator: torch.Generator
    ) -> list[Candidate]:
        """The most accurate distinct samples predicted at 0.9-1.0x of the budget, drawn from
        the final distribution, flattened (temperature 2, 4) while none lands there; failing
        that, those predicted within budget."""
        budget = problem.latency_loss.budget_ms
        within = torch.empty(0, len(self.counts), dtype=torch.long)
        for temperature in AIM_TEMPERATURES:
            draws = self.logits.sample(generator, self.config.candidates, temperature)
            draws = draws.unique(dim=0)
            predicted = problem.predicted_ms(draws)
            if temperature == 1.0:
                within = draws[predicted <= budget]
            near = draws[torch.tensor([aimed(ms, budget) for ms in predicted.tolist()])]
            if len(near):
                within = near
                break
        scored = [problem.evaluate(tuple(row)) for row in within.tolist()]
        scored.sort(key=lambda c: -c.accuracy)
        return scored[: self.config.finalists]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


E = TypeVar("E", bound=type[Estimator])
ESTIMATORS: dict[str, type[Estimator]] = {}


def register_estimator(name: str) -> Callable[[E], E]:
    def decorate(cls: E) -> E:
        if name in ESTIMATORS:
            raise ValueError(f"estimator {name!r} registered twice")
        cls.name = name
        ESTIMATORS[name] = cls
        return cls

    return decorate


def create_estimator(name: str, logits: ArchitectureLogits, config: EstimatorConfig) -> Estimator:
    try:
        cls = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; known: {sorted(ESTIMATORS)}") from None
    return cls(logits, config)
