"""Estimators that sample a discrete architecture b and use its *measured* latency.

- ``reinforce`` (Williams, 1992; as a NAS controller gradient in Zoph and Le, ICLR 2017):
  score-function gradient with a moving-average baseline per term.
- ``unas`` (Vahdat et al., CVPR 2020): REBAR for the accuracy loss, with the relaxed
  (all-path) network as control variate, and RELAX for latency, with the latency predictor
  g as the surrogate c(zeta) and the measured latency as the non-differentiable f(b).

b is drawn by Gumbel-max, b = argmax(log p + G). The accuracy term is applied at once. The
latency of b usually is not known yet: the oracle measures it on the device while training
goes on, and the latency term of b is applied when the measurement arrives. The policy has
moved by then, so the term is importance-weighted by min(cap, p_now(b) / p_then(b)) and
evaluated at the current logits (an off-policy estimator with truncated weights, as in
ACER, Wang et al., ICLR 2017); samples older than ``max_staleness`` steps are dropped. We chose
weighting over waiting (bounded staleness alone) because a device measurement takes tens of
training steps, and waiting would make the latency gradient lag the accuracy gradient by as
much. Only separable latency forms (``add_linear``, ``hinge``) split this way.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import torch

from search_worker.search.estimators.base import Estimator, register_estimator
from search_worker.search.gradient_estimators import importance_weight, relax, score_function
from search_worker.search.problem import ArchitectureProblem, mixtures, single_paths
from search_worker.search.relaxation import gumbel, perturbed


@dataclass
class DelayedSample:
    """A sample whose latency term waits for its measurement."""

    arch: tuple[int, ...]
    step: int
    logits: torch.Tensor  # alpha when b was drawn
    noise: torch.Tensor  # the Gumbel noise G that drew it

    @property
    def indices(self) -> torch.Tensor:
        return torch.tensor(self.arch)


class MovingBaseline:
    """b <- decay * b + (1 - decay) * f, starting at the first f (REINFORCE's baseline)."""

    def __init__(self, decay: float, value: float | None = None) -> None:
        self.decay = decay
        self.value = value

    def gap(self, f: float) -> float:
        """f minus the baseline *before* f updates it (so the baseline does not bias)."""
        gap = 0.0 if self.value is None else f - self.value
        self.value = f if self.value is None else self.decay * self.value + (1 - self.decay) * f
        return gap


class MeasuredLatencyEstimator(Estimator):
    """Draws b, applies the accuracy term now and each latency term when it is measured."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[DelayedSample] = []
        self.dropped = 0
        self.applied = 0

    def backward(
        self, problem: ArchitectureProblem, step: int, generator: torch.Generator
    ) -> dict[str, float]:
        if not problem.latency_loss.form.separable:
            raise ValueError(f"{self.name} needs a separable latency form (add_linear, hinge)")
        alpha, mask = self.logits.alpha, self.logits.mask
        noise = gumbel(alpha.shape, generator)
        arch = perturbed(alpha.detach(), mask, noise).argmax(dim=-1)
        loss, surrogate = self.loss_surrogate(problem, arch, noise, step, generator)
        sample = DelayedSample(tuple(arch.tolist()), step, alpha.detach().clone(), noise)
        if (
            problem.oracle.known(sample.arch) is not None
            or len(self.pending) < self.config.max_pending
        ):
            problem.oracle.request(sample.arch)
            self.pending.append(sample)
        else:
            self.dropped += 1
        problem.oracle.collect()
        latency_terms: list[torch.Tensor] = []
        for waiting in list(self.pending):
            measured = problem.oracle.known(waiting.arch)
            too_old = step - waiting.step > self.config.max_staleness
            if measured is None and not too_old and not problem.oracle.settled(waiting.arch):
                continue
            self.pending.remove(waiting)
            if measured is None:
                self.dropped += 1
                continue
            weight = importance_weight(
                alpha, waiting.logits, mask, waiting.indices, self.config.importance_cap
            )
            term = float(problem.latency_loss.term(torch.tensor(measured)))
            latency_terms.append(
                self.latency_surrogate(problem, waiting, term, weight, step, generator)
            )
            self.applied += 1
        (surrogate + sum(latency_terms, torch.zeros(()))).backward()
        return {
            "arch_loss": loss,
            "latency_terms_applied": float(len(latency_terms)),
            "latency_pending": float(len(self.pending)),
        }

    @abstractmethod
    def loss_surrogate(
        self,
        problem: ArchitectureProblem,
        arch: torch.Tensor,
        noise: torch.Tensor,
        step: int,
        generator: torch.Generator,
    ) -> tuple[float, torch.Tensor]:
        """(f(b) of the accuracy loss, the surrogate of its gradient estimate)."""

    @abstractmethod
    def latency_surrogate(
        self,
        problem: ArchitectureProblem,
        sample: DelayedSample,
        term: float,
        weight: torch.Tensor,
        step: int,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """The surrogate of the latency term ``term`` = f(b) of a measured sample."""

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {
            "pending": [vars(s) for s in self.pending],
            "dropped": self.dropped,
            "applied": self.applied,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pending = [DelayedSample(**s) for s in state["pending"]]
        self.dropped, self.applied = state["dropped"], state["applied"]


@register_estimator("reinforce")
class Reinforce(MeasuredLatencyEstimator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        decay = self.config.baseline_decay
        self.baselines = {"loss": MovingBaseline(decay), "latency": MovingBaseline(decay)}

    def loss_surrogate(
        self,
        problem: ArchitectureProblem,
        arch: torch.Tensor,
        noise: torch.Tensor,
        step: int,
        generator: torch.Generator,
    ) -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            loss = float(problem.loss(single_paths(arch)))
        gap = self.baselines["loss"].gap(loss)
        return loss, score_function(self.logits.alpha, self.logits.mask, arch, gap)

    def latency_surrogate(
        self,
        problem: ArchitectureProblem,
        sample: DelayedSample,
        term: float,
        weight: torch.Tensor,
        step: int,
        generator: torch.Generator,
    ) -> torch.Tensor:
        gap = self.baselines["latency"].gap(term)
        return score_function(self.logits.alpha, self.logits.mask, sample.indices, gap, weight)

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"baselines": {k: b.value for k, b in self.baselines.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for key, value in state["baselines"].items():
            self.baselines[key].value = value


@register_estimator("unas")
class Unas(MeasuredLatencyEstimator):
    def loss_surrogate(
        self,
        problem: ArchitectureProblem,
        arch: torch.Tensor,
        noise: torch.Tensor,
        step: int,
        generator: torch.Generator,
    ) -> tuple[float, torch.Tensor]:
        """REBAR: f(b) = loss of the sampled network, c = eta * loss of the relaxed network."""
        with torch.no_grad():
            loss = float(problem.loss(single_paths(arch)))
        eta = self.config.rebar_scale

        def relaxed_loss(weights: torch.Tensor) -> torch.Tensor:
            return eta * problem.loss(mixtures(weights, self.counts))

        surrogate = relax(
            self.logits.alpha,
            self.logits.mask,
            arch,
            noise,
            loss,
            relaxed_loss,
            self.config.tau(step),
            generator,
        )
        return loss, surrogate

    def latency_surrogate(
        self,
        problem: ArchitectureProblem,
        sample: DelayedSample,
        term: float,
        weight: torch.Tensor,
        step: int,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """RELAX: f(b) = latency term of the measured latency, c = the term of g(zeta)."""

        def predicted_term(weights: torch.Tensor) -> torch.Tensor:
            return problem.latency_loss.term(problem.latency(weights))

        return relax(
            self.logits.alpha,
            self.logits.mask,
            sample.indices,
            sample.noise,
            term,
            predicted_term,
            self.config.tau(step),
            generator,
            weight,
        )
