"""Fitted latency predictors: versioned rows with their training set and holdout metrics,
and the asynchronous fit requests that produce them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from latency_db.models.base import (
    ID_LENGTH,
    Base,
    check_in,
    created_column,
    enum_type,
    id_column,
)
from latency_db.models.devices import Device
from latency_db.models.runtime import RuntimeConfig


class PredictorKind(str, Enum):
    LUT = "lut"
    LINEAR = "linear"
    MLP = "mlp"
    GBDT = "gbdt"


class FitKind(str, Enum):
    """What a fit request asks for: a predictor kind, or ``auto`` (the kind with the best
    cross-validated accuracy on the training split)."""

    LUT = "lut"
    LINEAR = "linear"
    MLP = "mlp"
    GBDT = "gbdt"
    AUTO = "auto"


class FitState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Predictor(Base):
    __tablename__ = "predictors"
    __table_args__ = (
        CheckConstraint(check_in("kind", PredictorKind), name="kind"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("batch_size > 0", name="batch_size_positive"),
        CheckConstraint(
            "holdout_fraction >= 0 AND holdout_fraction < 1", name="holdout_fraction_range"
        ),
        UniqueConstraint(
            "device_id",
            "runtime_config_id",
            "space_ref",
            "kind",
            "version",
            name="uq_predictors_version",
        ),
    )

    id: Mapped[str] = id_column()
    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE")
    )
    runtime_config_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("runtime_configs.id"), index=True
    )
    space_ref: Mapped[str] = mapped_column(String(128))
    batch_size: Mapped[int] = mapped_column(server_default="32")
    kind: Mapped[PredictorKind] = mapped_column(enum_type(PredictorKind))
    version: Mapped[int]
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Holdout architectures with predicted and measured ms (the calibration plot's data).
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    training_measurement_ids: Mapped[list[str]] = mapped_column(JSON)
    # Verdicts of the measurements it was trained on: ["clean"] unless asked for more.
    training_verdicts: Mapped[list[str]] = mapped_column(JSON)
    seed: Mapped[int]
    holdout_fraction: Mapped[float]
    created_at: Mapped[datetime] = created_column()

    device: Mapped[Device] = relationship()
    runtime_config: Mapped[RuntimeConfig] = relationship()


class PredictorFit(Base):
    """An asynchronous request to fit a predictor version; a worker runs it."""

    __tablename__ = "predictor_fits"
    __table_args__ = (
        CheckConstraint(check_in("kind", FitKind), name="kind"),
        CheckConstraint(check_in("state", FitState), name="state"),
        CheckConstraint("batch_size > 0", name="batch_size_positive"),
        CheckConstraint(
            "holdout_fraction >= 0 AND holdout_fraction < 1", name="holdout_fraction_range"
        ),
    )

    id: Mapped[str] = id_column()
    device_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    runtime_config_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("runtime_configs.id")
    )
    space_ref: Mapped[str] = mapped_column(String(128))
    batch_size: Mapped[int]
    kind: Mapped[FitKind] = mapped_column(enum_type(FitKind))
    seed: Mapped[int]
    holdout_fraction: Mapped[float]
    normalize_drift: Mapped[bool] = mapped_column(default=False, server_default=false())
    include_verdicts: Mapped[list[str]] = mapped_column(JSON)  # what the training set may hold
    # Few-shot transfer: the other devices' additive versions a linear fit starts from.
    source_predictor_ids: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    state: Mapped[FitState] = mapped_column(enum_type(FitState))
    predictor_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("predictors.id", ondelete="SET NULL")
    )
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    finished_at: Mapped[datetime | None]
    # When the fit task was last sent (NULL: never; the reconciler sends it).
    enqueued_at: Mapped[datetime | None]

    device: Mapped[Device] = relationship()
    runtime_config: Mapped[RuntimeConfig] = relationship()
    predictor: Mapped[Predictor | None] = relationship()
