"""How accuracy and latency combine in the architecture objective (design section 6).

- ``mul_log``: CE * (LAT / T)^beta, i.e. log loss = log CE + beta log(LAT / T): the
  multiplicative latency objective of MnasNet (Tan et al., CVPR 2019) on the loss. ProxylessNAS'
  ``mul#log`` (Cai et al., ICLR 2019), CE * (log LAT / log T)^beta = CE * (1 + log(LAT / T) /
  log T)^beta, is its first-order form with exponent beta / log T, but it depends on the unit of
  LAT and is NaN for LAT < 1 and flat at LAT = 1; this form is unit-free and smooth for every
  positive LAT and T (ProxylessNAS' beta 0.6 with T = 100 ms is beta ~0.13 here);
- ``add_linear`` (ProxylessNAS): CE + lambda (LAT - T) / T;
- ``hinge`` (UNAS, Vahdat et al., CVPR 2020): CE + lambda relu(LAT / T - 1), the paper's
  lambda relu(LAT - T) with LAT in units of the budget, so one lambda serves any budget.

Objectives: ``val`` (L_val), ``train`` (L_train), ``gen`` (UNAS' generalization loss
L_train + lambda_gen |L_val - L_train|; the paper's lambda_gen is 0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch


class LatencyForm(str, Enum):
    MUL_LOG = "mul_log"
    ADD_LINEAR = "add_linear"
    HINGE = "hinge"

    @property
    def separable(self) -> bool:
        """CE + term(LAT): the latency part can be applied on its own, later."""
        return self is not LatencyForm.MUL_LOG


class Objective(str, Enum):
    VAL = "val"
    TRAIN = "train"
    GEN = "gen"


def objective_value(
    objective: Objective,
    train_loss: torch.Tensor | None,
    val_loss: torch.Tensor | None,
    *,
    gen_weight: float,
) -> torch.Tensor:
    if objective is Objective.VAL and val_loss is not None:
        return val_loss
    if objective is Objective.TRAIN and train_loss is not None:
        return train_loss
    if objective is Objective.GEN and train_loss is not None and val_loss is not None:
        return train_loss + gen_weight * (val_loss - train_loss).abs()
    raise ValueError(f"objective {objective.value} needs the losses it is made of")


@dataclass(frozen=True)
class LatencyLoss:
    form: LatencyForm
    weight: float
    budget_ms: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.budget_ms) and self.budget_ms > 0):
            raise ValueError(f"budget_ms must be positive and finite, got {self.budget_ms}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"latency weight must be >= 0, got {self.weight}")

    def term(self, latency_ms: torch.Tensor) -> torch.Tensor:
        """The additive latency term of a separable form."""
        ratio = latency_ms / self.budget_ms
        if self.form is LatencyForm.ADD_LINEAR:
            return self.weight * (ratio - 1.0)
        if self.form is LatencyForm.HINGE:
            return self.weight * torch.relu(ratio - 1.0)
        raise ValueError(f"{self.form.value} is not separable")

    def combine(self, loss: torch.Tensor, latency_ms: torch.Tensor) -> torch.Tensor:
        """The architecture loss from the accuracy loss and a latency (ms)."""
        if self.form is LatencyForm.MUL_LOG:
            return loss * (latency_ms / self.budget_ms) ** self.weight
        return loss + self.term(latency_ms)
