"""One search in memory: the supernet, the architecture logits, the estimator and their
optimizers; :meth:`SearchRun.step` is one weight step and (after the warm-up) one
architecture step. Everything a resumed search needs is in :meth:`SearchRun.state_dict`.

During the warm-up every estimator trains the supernet on one uniformly sampled path per step
(single-path one-shot training: Guo et al., "Single Path One-Shot NAS", ECCV 2020): every
candidate is trained alike before any is preferred, at the cost of one path per step, where a
relaxed estimator's own weight step runs all of them.

Weights are trained as :mod:`search_worker.search.weight_training` says (warm-up, cosine over
the search); every residual branch of the supernet starts at zero
(:func:`search_worker.nn.zero_residual_gamma`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from latency_db.predictors import Layout
from latency_db.search_spec import SearchSpec
from profiler_agent.host_lock import NOTABLE_PAUSE_S
from search_worker.data import SearchData
from search_worker.devices import CPU, to_device
from search_worker.latency import DifferentiableLatency
from search_worker.latency.corrected import CorrectedLatency
from search_worker.nn import PathSelection, Supernet, init_weights, zero_residual_gamma
from search_worker.oracle import LatencyOracle
from search_worker.search.calibration import LatencyCalibration
from search_worker.search.distribution import ArchitectureLogits
from search_worker.search.estimators import EstimatorConfig, create_estimator
from search_worker.search.losses import LatencyForm, LatencyLoss, Objective, objective_value
from search_worker.search.problem import ArchitectureProblem, single_paths
from search_worker.search.scoring import Scoring, score
from search_worker.search.weight_training import (
    learning_rate,
    set_learning_rate,
    sgd_step,
    weight_optimizer,
)

Batch = tuple[torch.Tensor, torch.Tensor]
StepGate = Callable[[], AbstractContextManager[float]]
"""Entered around each step; yields the seconds the step waited (the host's device-busy lock,
:meth:`profiler_agent.host_lock.HostLock.worker_turn`)."""
log = logging.getLogger(__name__)


def no_gate() -> AbstractContextManager[float]:
    return nullcontext(0.0)


def estimator_config(spec: SearchSpec) -> EstimatorConfig:
    return EstimatorConfig(
        arch_lr=spec.arch_lr,
        tau_start=spec.tau_start,
        tau_end=spec.tau_end,
        tau_first_step=spec.warmup_steps,
        tau_anneal_steps=spec.steps - spec.warmup_steps - 1,  # the last step ends at tau_end
        baseline_decay=spec.baseline_decay,
        rebar_scale=spec.rebar_scale,
        rebar_tied=spec.rebar_tied,
        importance_cap=spec.importance_cap,
        max_staleness=spec.max_staleness,
        max_pending=spec.max_pending,
        candidates=spec.candidates,
        population=spec.population,
        tournament=spec.tournament,
        finalists=spec.finalists,
    )


class SearchRun:
    def __init__(
        self,
        spec: SearchSpec,
        estimator: str,
        budget_ms: float,
        latency: DifferentiableLatency,
        oracle: LatencyOracle,
        data: SearchData,
        step_gate: StepGate = no_gate,
        device: torch.device = CPU,
    ) -> None:
        self.spec = spec
        self.device = device  # the supernet and its batches (search_worker.devices)
        self.step_gate = step_gate
        self.data = data
        self.latency = CorrectedLatency(latency)
        self.oracle = oracle
        self.space = spec.proxy_space(data.num_classes)
        layout = Layout(tuple(len(layer.candidates) for layer in self.space.layers))
        if tuple(latency.mask.sum(dim=1).tolist()) != layout.counts:
            raise ValueError("the latency model's layers do not match the searched space")
        torch.manual_seed(spec.seed)
        self.supernet = zero_residual_gamma(init_weights(Supernet(self.space), seed=spec.seed))
        self.supernet.to(device)
        self.logits = ArchitectureLogits(layout)
        self.estimator = create_estimator(estimator, self.logits, estimator_config(spec))
        self.weight_optimizer = weight_optimizer(self.supernet.parameters(), spec.weight_lr)
        self.budget_ms = budget_ms
        self.generator = torch.Generator().manual_seed(spec.seed)
        self.calibration = LatencyCalibration(
            self.latency, spec.latency_calibration_every, seed=spec.seed + 1
        )
        self.step_index = 0

    @property
    def done(self) -> bool:
        return self.step_index >= self.spec.steps

    def latency_loss(self) -> LatencyLoss:
        """The latency term, its weight ramped up over ``latency_warmup_steps`` (UNAS)."""
        warm = self.spec.latency_warmup_steps
        ramp = 1.0 if warm == 0 else min(1.0, self.step_index / warm)
        return LatencyLoss(
            LatencyForm(self.spec.latency_form), self.spec.latency_weight * ramp, self.budget_ms
        )

    def cross_entropy(self, batch: Batch, selections: Sequence[PathSelection]) -> torch.Tensor:
        x, y = to_device(batch, self.device)
        bf16 = self.spec.mixed_precision == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            return nn.functional.cross_entropy(self.supernet(x, selections), y)

    def problem(self, scoring: Scoring | None = None) -> ArchitectureProblem:
        """The architecture step's view: the objective on this step's batches; candidates are
        scored only with ``scoring`` (at the end of the search)."""
        objective = Objective(self.spec.objective)
        val = self.data.arch.next() if objective in (Objective.VAL, Objective.GEN) else None
        train = self.data.weight.next() if objective in (Objective.TRAIN, Objective.GEN) else None

        def accuracy(arch: tuple[int, ...]) -> float:
            if scoring is None:
                raise ValueError("candidates are scored only at the end of a search")
            return score(self.supernet, arch, scoring)

        def loss(selections: Sequence[PathSelection]) -> torch.Tensor:
            return objective_value(
                objective,
                None if train is None else self.cross_entropy(train, selections),
                None if val is None else self.cross_entropy(val, selections),
                gen_weight=self.spec.gen_weight,
            ).cpu()  # the architecture side is on the CPU (search_worker.devices)

        return ArchitectureProblem(
            loss=loss,
            accuracy=accuracy,
            latency=self.latency,
            latency_loss=self.latency_loss(),
            oracle=self.oracle,
        )

    def step(self) -> dict[str, float]:
        """One step, started only when the step gate lets it (no agent measuring here)."""
        with self.step_gate() as paused_s:
            if paused_s > NOTABLE_PAUSE_S:
                log.info(
                    "step %d paused %.3f s while the device's agent measured",
                    self.step_index,
                    paused_s,
                )
            metrics = self._step()
        metrics["paused_s"] = paused_s
        return metrics

    def _step(self) -> dict[str, float]:
        self.supernet.train()
        set_learning_rate(
            self.weight_optimizer,
            learning_rate(self.spec.weight_lr, self.step_index, self.spec.steps),
        )
        selections = (
            self.estimator.weight_selections(self.step_index, self.generator)
            if self.step_index >= self.spec.warmup_steps
            else single_paths(self.logits.uniform_sample(self.generator))
        )
        weight_loss = self.cross_entropy(self.data.weight.next(), selections)
        sgd_step(self.weight_optimizer, self.supernet, weight_loss)
        metrics: dict[str, float] = {
            "step": float(self.step_index),
            "weight_loss": float(weight_loss.detach()),
        }
        if self.estimator.trains_architecture and self.step_index >= self.spec.warmup_steps:
            metrics |= self.estimator.architecture_step(
                self.problem(), self.step_index, self.generator
            )
            self.supernet.zero_grad(set_to_none=True)
            self.calibration.step(self.step_index, self.logits, self.oracle)
        with torch.no_grad():
            metrics["expected_latency_ms"] = float(self.latency.expected(self.logits.alpha))
        metrics["latency_scale"] = float(self.latency.scale)
        metrics["entropy"] = self.logits.entropy()
        metrics["measurements_used"] = float(self.oracle.stats.measurements_used)
        metrics["measurements_pending"] = float(self.oracle.in_flight)
        self.step_index += 1
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_index,
            "supernet": self.supernet.state_dict(),
            "logits": self.logits.state_dict(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "estimator": self.estimator.state_dict(),
            "oracle": self.oracle.state_dict(),
            "calibration": self.calibration.state_dict(),
            "streams": {name: s.state_dict() for name, s in self.data.streams().items()},
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_index = int(state["step"])
        self.supernet.load_state_dict(state["supernet"])
        self.logits.load_state_dict(state["logits"])
        self.weight_optimizer.load_state_dict(state["weight_optimizer"])
        self.estimator.load_state_dict(state["estimator"])
        self.oracle.load_state_dict(state["oracle"])
        if "calibration" in state:  # checkpoints from before the correction start at scale 1
            self.calibration.load_state_dict(state["calibration"])
        for name, stream in self.data.streams().items():
            stream.load_state_dict(state["streams"][name])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
