"""Latency predictors as the API shows them: fit requests, versions, predictions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from latency_db.models import Predictor
from services.schemas.common import ApiModel, Out, RuntimeIn, VerdictName

KindIn = Literal["lut", "linear", "mlp", "gbdt", "auto"]


class FitCreate(ApiModel):
    """Fit a new version on everything measured for (device, runtime config, space, batch).

    Without ``runtime_config_id`` the one configuration the device was measured under is used,
    without ``batch_size`` the one batch size it was measured at.
    The training set holds clean measurements only unless ``include_verdicts`` adds
    ``unstable`` and/or ``disturbed`` ones; the version records what it was trained on.
    """

    device_id: str
    space_ref: str = Field(examples=["proxyless-r224-w1.0-c1000"])
    kind: KindIn
    runtime_config_id: str | None = None
    batch_size: int | None = Field(
        default=None, ge=1, le=4096, description="default: the one batch the device has data of"
    )
    holdout: float = Field(default=0.2, ge=0.0, lt=1.0)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    normalize_drift: bool = Field(
        default=False, description="fit latencies at the device's reference speed (sentinel)"
    )
    include_verdicts: list[VerdictName] = Field(default=["clean"], max_length=3)
    transfer_from: list[str] = Field(
        default=[],
        max_length=16,
        description=(
            "few-shot transfer: lut or linear versions of other devices (same space) that a "
            "linear fit starts from, so a few measurements of this device suffice"
        ),
    )

    @model_validator(mode="after")
    def _transfer_kind(self) -> FitCreate:
        if self.transfer_from and self.kind != "linear":
            raise ValueError("transfer_from fits kind 'linear'")
        return self


class FitOut(Out):
    id: str
    device_id: str
    runtime_config_id: str
    space_ref: str
    batch_size: int
    kind: str
    seed: int
    holdout_fraction: float
    normalize_drift: bool
    include_verdicts: list[str]
    source_predictor_ids: list[str]
    state: str
    predictor_id: str | None
    error_message: str | None
    created_at: datetime
    finished_at: datetime | None


class PredictorOut(Out):
    id: str
    device_id: str
    runtime_config_id: str
    space_ref: str
    batch_size: int
    kind: str
    version: int
    metrics: dict[str, Any]
    seed: int
    holdout_fraction: float
    n_measurements: int
    training_verdicts: list[str] = Field(description="verdicts its training set could hold")
    created_at: datetime

    @classmethod
    def from_row(cls, predictor: Predictor) -> PredictorOut:
        return cls(
            id=predictor.id,
            device_id=predictor.device_id,
            runtime_config_id=predictor.runtime_config_id,
            space_ref=predictor.space_ref,
            batch_size=predictor.batch_size,
            kind=predictor.kind.value,
            version=predictor.version,
            metrics=predictor.metrics,
            seed=predictor.seed,
            holdout_fraction=predictor.holdout_fraction,
            n_measurements=len(predictor.training_measurement_ids),
            training_verdicts=predictor.training_verdicts,
            created_at=predictor.created_at,
        )


class PredictIn(ApiModel):
    architectures: list[str] = Field(min_length=1, max_length=10_000)


class Prediction(ApiModel):
    architecture: str
    latency_ms: float
    std_ms: float


class CalibrationOut(ApiModel):
    """Predicted vs measured latency of the holdout architectures of a version."""

    predictor_id: str
    architectures: list[str]
    predicted_ms: list[float]
    measured_ms: list[float]


class TrainingJobsIn(ApiModel):
    """Queue ``network`` jobs for architectures a predictor should learn from.

    ``random``: uniform samples; ``uncertain``: where the ensemble of ``predictor_id``
    disagrees most; ``budget``: predicted latency nearest ``budget_ms``; ``transfer``: the
    reference architectures a few-shot transfer from ``source_predictor_ids`` learns most
    from (greedy D-optimal in the sources' predictions). The active strategies choose from
    ``pool`` random candidates. Architectures measured already are skipped.
    """

    device_id: str
    runtime: RuntimeIn
    space_ref: str
    count: int = Field(ge=1, le=1000)
    batch_size: int = Field(default=32, ge=1, le=4096)
    strategy: Literal["random", "uncertain", "budget", "transfer"] = "random"
    predictor_id: str | None = None
    source_predictor_ids: list[str] = Field(default=[], max_length=16)
    budget_ms: float | None = Field(default=None, gt=0)
    pool: int = Field(default=2000, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _strategy_inputs(self) -> TrainingJobsIn:
        if self.strategy == "transfer":
            if not self.source_predictor_ids:
                raise ValueError("strategy 'transfer' needs source_predictor_ids")
        elif self.strategy != "random" and self.predictor_id is None:
            raise ValueError(f"strategy {self.strategy!r} needs predictor_id")
        if self.strategy == "budget" and self.budget_ms is None:
            raise ValueError("strategy 'budget' needs budget_ms")
        return self


class TrainingJobsOut(ApiModel):
    job_ids: list[str]
    architectures: list[str]
    skipped_measured: int
