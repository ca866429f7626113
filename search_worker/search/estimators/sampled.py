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

The device measures only so many architectures: an unmeasured b is sent with probability
pi = min(1, max_pending / d), d the measurement delay in steps (a moving average, at least
the age of the oldest one in flight), which keeps about ``max_pending`` in flight; b already
measured is always kept (pi = 1). A kept b's measured terms are weighted by 1 / pi (Horvitz
and Thompson, JASA 1952), so the latency gradient stays unbiased at any delay; a plain cap on
the samples in flight would shrink it by the share kept (issue 17). RELAX's reparameterized
term c(z) needs no measurement and is applied every step, at once.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import torch

from search_worker.search.estimators.base import Estimator, register_estimator
from search_worker.search.gradient_estimators import (
    Surrogate,
    importance_weight,
    relax,
    relax_correction,
    reparameterized,
    score_function,
    tied_relax,
)
from search_worker.search.problem import ArchitectureProblem, mixtures, single_paths
from search_worker.search.relaxation import gumbel, perturbed

_DELAY_DECAY = 0.9


@dataclass
class DelayedSample:
    """A sample whose latency term waits for its measurement."""

    arch: tuple[int, ...]
    step: int
    logits: torch.Tensor  # alpha when b was drawn
    keep: float  # the probability that b was kept for measurement

    @property
    def indices(self) -> torch.Tensor:
        return torch.tensor(self.arch)


class MovingAverage:
    """b <- decay * b + (1 - decay) * f, starting at the first f (REINFORCE's baseline; the
    measurement delay)."""

    def __init__(self, decay: float, value: float | None = None) -> None:
        self.decay = decay
        self.value = value

    def gap(self, f: float) -> float:
        """f minus the baseline *before* f updates it (so the baseline does not bias)."""
        gap = 0.0 if self.value is None else f - self.value
        self.update(f)
        return gap

    def update(self, f: float) -> None:
        self.value = f if self.value is None else self.decay * self.value + (1 - self.decay) * f


class MeasuredLatencyEstimator(Estimator):
    """Draws b, applies the accuracy term now and each latency term when it is measured."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[DelayedSample] = []
        self.delay = MovingAverage(_DELAY_DECAY)  # steps from request to measurement
        self.dropped = 0  # kept samples whose measurement never came
        self.applied = 0

    def keep_probability(self, step: int) -> float:
        """pi = min(1, max_pending / expected delay): about ``max_pending`` in flight."""
        oldest = max((step - s.step for s in self.pending), default=0)
        expected = max(1.0, float(oldest), self.delay.value or 0.0)
        return min(1.0, self.config.max_pending / expected)

    def backward(
        self, problem: ArchitectureProblem, step: int, generator: torch.Generator
    ) -> dict[str, float]:
        if not problem.latency_loss.form.separable:
            raise ValueError(f"{self.name} needs a separable latency form (add_linear, hinge)")
        alpha, mask = self.logits.alpha, self.logits.mask
        keep = self.keep_probability(step)  # decided before b is drawn
        noise = gumbel(alpha.shape, generator)
        arch = perturbed(alpha.detach(), mask, noise).argmax(dim=-1)
        loss, surrogate = self.loss_surrogate(problem, arch, noise, step, generator)
        terms = [surrogate, self.latency_now(problem, noise, step)]
        sample = DelayedSample(tuple(arch.tolist()), step, alpha.detach().clone(), keep)
        if problem.oracle.known(sample.arch) is not None:
            sample.keep = 1.0
        if sample.keep == 1.0 or float(torch.rand((), generator=generator)) < keep:
            problem.oracle.request(sample.arch)
            self.pending.append(sample)
        problem.oracle.collect()
        applied = 0
        for waiting in list(self.pending):
            measured = problem.oracle.known(waiting.arch)
            too_old = step - waiting.step > self.config.max_staleness
            if measured is None and not too_old and not problem.oracle.settled(waiting.arch):
                continue
            self.pending.remove(waiting)
            if measured is None:
                self.dropped += 1
                continue
            if step > waiting.step:
                self.delay.update(step - waiting.step)
            weight = importance_weight(
                alpha, waiting.logits, mask, waiting.indices, self.config.importance_cap
            )
            term = float(problem.latency_loss.term(torch.tensor(measured)))
            terms.append(
                self.latency_surrogate(
                    problem, waiting, term, weight / waiting.keep, step, generator
                )
            )
            applied += 1
        self.applied += applied
        sum(terms, torch.zeros(())).backward()
        return {
            "arch_loss": loss,
            "latency_terms_applied": float(applied),
            "latency_pending": float(len(self.pending)),
            "latency_keep_probability": keep,
        }

    def latency_now(
        self, problem: ArchitectureProblem, noise: torch.Tensor, step: int
    ) -> torch.Tensor:
        """The latency surrogate that needs no measurement, applied every step (none)."""
        return torch.zeros(())

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
        """The surrogate of the latency term ``term`` = f(b) of a measured sample, its
        score-function terms weighted by ``weight``."""

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {
            "pending": [vars(s) for s in self.pending],
            "delay": self.delay.value,
            "dropped": self.dropped,
            "applied": self.applied,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pending = [DelayedSample(**s) for s in state["pending"]]
        self.delay.value = state["delay"]
        self.dropped, self.applied = state["dropped"], state["applied"]


@register_estimator("reinforce")
class Reinforce(MeasuredLatencyEstimator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        decay = self.config.baseline_decay
        self.baselines = {"loss": MovingAverage(decay), "latency": MovingAverage(decay)}

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
        """REBAR: f(b) = loss of the sampled network, c = eta * loss of the relaxed network
        (two relaxed passes, at z and z~; one with ``rebar_tied``)."""
        with torch.no_grad():
            loss = float(problem.loss(single_paths(arch)))
        eta = self.config.rebar_scale

        def relaxed_loss(weights: torch.Tensor) -> torch.Tensor:
            return eta * problem.loss(mixtures(weights, self.counts))

        alpha, mask, tau = self.logits.alpha, self.logits.mask, self.config.tau(step)
        if self.config.rebar_tied:
            return loss, tied_relax(alpha, mask, arch, noise, loss, relaxed_loss, tau)
        return loss, relax(alpha, mask, arch, noise, loss, relaxed_loss, tau, generator)

    def latency_now(
        self, problem: ArchitectureProblem, noise: torch.Tensor, step: int
    ) -> torch.Tensor:
        """RELAX's c(z) for this step's z = log p + G, measured or not."""
        return reparameterized(
            self.logits.alpha,
            self.logits.mask,
            noise,
            predicted_term(problem),
            self.config.tau(step),
        )

    def latency_surrogate(
        self,
        problem: ArchitectureProblem,
        sample: DelayedSample,
        term: float,
        weight: torch.Tensor,
        step: int,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """RELAX's correction: f(b) = latency term of the measured latency, c = the term of
        g(zeta)."""
        return relax_correction(
            self.logits.alpha,
            self.logits.mask,
            sample.indices,
            term,
            predicted_term(problem),
            self.config.tau(step),
            generator,
            weight,
        )


def predicted_term(problem: ArchitectureProblem) -> Surrogate:
    """The latency term of the predictor g at soft one-hots."""

    def term(weights: torch.Tensor) -> torch.Tensor:
        return problem.latency_loss.term(problem.latency(weights))

    return term
