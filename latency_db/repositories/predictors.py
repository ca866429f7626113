"""Fitted latency predictors, versioned per (device, runtime config, space, kind)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import ValidationError
from latency_db.models import Device, Predictor, PredictorKind, RuntimeConfig
from latency_db.repositories.common import (
    add_or_conflict,
    check_finite,
    check_json,
    check_name,
    get_or_not_found,
    parse_enum,
)


def create_predictor(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space_ref: str,
    kind: PredictorKind | str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    training_measurement_ids: Sequence[str],
    seed: int,
    holdout_fraction: float,
) -> Predictor:
    """Store a fitted predictor as the next version of its group (1, 2, ...).

    Two fits racing for the same version: the second gets ``Conflict`` and may retry.
    """
    kind = parse_enum(PredictorKind, kind, "kind")
    space_ref = check_name(space_ref, "space_ref", 128)
    fraction = check_finite(holdout_fraction, "holdout_fraction")
    if not 0.0 <= fraction < 1.0:
        raise ValidationError(f"holdout_fraction must be in [0, 1), not {fraction}")
    check_json(params, "params")
    check_json(metrics, "metrics")
    ids = [str(i) for i in training_measurement_ids]
    group = (
        Predictor.device_id == device.id,
        Predictor.runtime_config_id == runtime_config.id,
        Predictor.space_ref == space_ref,
        Predictor.kind == kind,
    )
    latest = session.scalar(select(func.max(Predictor.version)).where(*group))
    predictor = Predictor(
        device_id=device.id,
        runtime_config_id=runtime_config.id,
        space_ref=space_ref,
        kind=kind,
        version=(latest or 0) + 1,
        params=params,
        metrics=metrics,
        training_measurement_ids=ids,
        seed=seed,
        holdout_fraction=fraction,
        created_at=db_now(session),
    )
    add_or_conflict(session, predictor, f"{kind.value} predictor version taken; fit again")
    return predictor


def get_predictor(*, session: Session, predictor_id: str) -> Predictor:
    return get_or_not_found(session, Predictor, predictor_id, "predictor")


def list_predictors(
    *,
    session: Session,
    device: Device | None = None,
    runtime_config: RuntimeConfig | None = None,
    space_ref: str | None = None,
    kind: PredictorKind | str | None = None,
) -> list[Predictor]:
    """Newest first, optionally filtered."""
    stmt = select(Predictor).order_by(Predictor.created_at.desc(), Predictor.id.desc())
    if device is not None:
        stmt = stmt.where(Predictor.device_id == device.id)
    if runtime_config is not None:
        stmt = stmt.where(Predictor.runtime_config_id == runtime_config.id)
    if space_ref is not None:
        stmt = stmt.where(Predictor.space_ref == space_ref)
    if kind is not None:
        stmt = stmt.where(Predictor.kind == parse_enum(PredictorKind, kind, "kind"))
    return list(session.scalars(stmt))


def latest_predictor(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space_ref: str,
    kind: PredictorKind | str,
) -> Predictor | None:
    """The highest version of a predictor group, or None if none was fitted."""
    stmt = (
        select(Predictor)
        .where(
            Predictor.device_id == device.id,
            Predictor.runtime_config_id == runtime_config.id,
            Predictor.space_ref == space_ref,
            Predictor.kind == parse_enum(PredictorKind, kind, "kind"),
        )
        .order_by(Predictor.version.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()
